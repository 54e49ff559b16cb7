/**
 * The outside systems the post-mortem exporters write to, behind small ports
 * (implemented over HTTP in confluence.ts and github.ts, faked by local HTTP
 * servers in tests).
 */

export interface ConfluencePage {
  id: string;
  title: string;
  spaceId: string;
  /** The current version number (1 after creation). */
  version: number;
  /** The page's web address, when Confluence says it. */
  url: string | null;
  /** The storage-format body, when it was asked for. */
  body: string | null;
}

export interface ConfluenceApi {
  /** The page, or undefined when it does not exist (any more) or cannot be seen. */
  getPage(id: string): Promise<ConfluencePage | undefined>;
  /** The current page with exactly this title in the configured space, with its body. */
  findPageByTitle(title: string): Promise<ConfluencePage | undefined>;
  /** Creates a page in the configured space (under the configured parent). Throws PageTitleTakenError. */
  createPage(args: { title: string; body: string }): Promise<ConfluencePage>;
  /**
   * Writes a new version. `version` is the new number (current + 1).
   * Throws PageVersionConflictError when the page moved on, PageTitleTakenError
   * when another page has the title.
   */
  updatePage(args: { id: string; title: string; body: string; version: number; message: string }): Promise<ConfluencePage>;
}

export interface GitHubIssue {
  number: number;
  /** The issue's web address (html_url). */
  url: string;
}

export interface GitHubApi {
  /** "owner/name", for messages. */
  readonly repository: string;
  createIssue(args: { title: string; body: string; labels: readonly string[] }): Promise<GitHubIssue>;
  /** An issue updated since `since` whose body contains `marker` (finds the issue of an attempt whose answer was lost). */
  findIssueByMarker(marker: string, since: Date): Promise<GitHubIssue | undefined>;
}
