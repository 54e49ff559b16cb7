export { API_VERSIONS, startFakeGitHubActions, type FakeGitHubActions, type FakeGitHubActionsOptions, type FakeInput, type FakeRun, type FakeWorkflow } from "./server.ts";
