export { startFakeFlagsmith, type FakeFlagsmith, type FakeFlagsmithEnvironment, type FakeFlagsmithOptions } from "./server.ts";
