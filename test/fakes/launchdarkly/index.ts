export { startFakeLaunchDarkly, type Failure, type FakeLaunchDarkly, type FakeLaunchDarklyOptions } from "./server.ts";
