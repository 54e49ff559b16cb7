export { startFakeUnleashEnterprise, type FakeUnleashEnterprise, type FakeUnleashEnterpriseOptions } from "./server.ts";
