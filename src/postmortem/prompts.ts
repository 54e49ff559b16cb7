import type { PromptId } from "./models.ts";

/** The blameless prompts, in order, with their guiding questions. */
export const PROMPTS: ReadonlyArray<{ id: PromptId; title: string; questions: readonly string[] }> = [
  {
    id: "what-happened",
    title: "What happened",
    questions: [
      "What did customers and internal users experience, and for how long?",
      "What did responders see at each step, and what did they know at the time?",
      "Which decisions were made, and what made them look right at that moment?",
    ],
  },
  {
    id: "contributing-factors",
    title: "Contributing factors",
    questions: [
      "Which systems, changes and conditions combined to cause the failure? (Systems and conditions, not people.)",
      "What made the problem possible, and what made it hard to detect or diagnose?",
      "Which safeguards (tests, reviews, alerts, limits) were missing, bypassed or did not work?",
    ],
  },
  {
    id: "went-well",
    title: "What went well",
    questions: [
      "What helped us detect, understand or mitigate the problem quickly?",
      "Which tools, runbooks or practices worked as intended?",
    ],
  },
  {
    id: "went-poorly",
    title: "What went poorly",
    questions: [
      "Where did the response slow down (access, tooling, communication, hand-offs)?",
      "What information was missing, late or misleading?",
    ],
  },
  {
    id: "got-lucky",
    title: "Where we got lucky",
    questions: [
      "What could have made this much worse, and why did it not happen this time?",
      "Which safeguards did we rely on by chance rather than by design?",
    ],
  },
  {
    id: "action-items",
    title: "Follow-up action items",
    questions: [
      "What will prevent this class of failure, or detect it sooner?",
      "What would make the response faster or easier next time?",
      "Does each item have an owner, a due date and a priority?",
    ],
  },
];
