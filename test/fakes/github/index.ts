export { API_VERSION, startFakeGitHub, type FakeGitHub, type FakeGitHubOptions, type FakeIssue } from "./server.ts";
