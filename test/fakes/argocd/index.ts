export { grpcError, startFakeArgoCd, type FakeApplication, type FakeArgoCd, type FakeArgoCdOptions, type Policy } from "./server.ts";
