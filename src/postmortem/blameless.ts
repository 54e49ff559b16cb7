/**
 * Blameless-language review: flags wording that assigns blame to a person and
 * suggests system-focused phrasing. Findings are advice for the authors: the
 * reviewed text is never changed.
 *
 * The rules are deliberately conservative about *people*: a person is a
 * participant's name, an @mention, "he"/"she", or a phrase such as "the
 * on-call engineer". Subjects like "the deploy" or "the cache" are systems,
 * and sentences about them ("the deploy caused", "the cache failed to
 * refresh") are exactly what a blameless review wants.
 */

export type BlamelessRuleId =
  | "possessive-fault"
  | "human-error"
  | "careless"
  | "negligent"
  | "hindsight"
  | "forgot"
  | "person-failed-to"
  | "blame"
  | "person-as-cause";

export interface BlamelessRule {
  id: BlamelessRuleId;
  /**
   * A cheap test for the rule's key words: texts without them are skipped
   * (most timeline text is about systems, and a review covers thousands).
   */
  trigger: RegExp;
  /** Global regular expressions; a match of any of them is a finding... */
  patterns: RegExp[];
  /** ...unless the text just before the match matches this (negations, prepositions). */
  unlessBefore?: RegExp;
  explanation: string;
  suggestion: string;
}

export interface Finding {
  ruleId: BlamelessRuleId;
  /** Which free-text part, as given by the caller ("Resolution summary", "Note at 10:32 UTC"). */
  where: string;
  /** The exact words that matched. */
  match: string;
  /** The match with a little context, for the review note. */
  excerpt: string;
  explanation: string;
  suggestion: string;
}

export interface ReviewText {
  where: string;
  text: string;
}

// A boundary that works for non-ASCII names ("Zoë", "José").
const B = "(?<![\\p{L}\\p{N}_])";
const E = "(?![\\p{L}\\p{N}_])";

const MENTION = "<@[UW][A-Z0-9]+(?:\\|[^>]*)?>";
const HANDLE = "@[\\p{L}\\p{N}._-]+";
const PRONOUN = `${B}(?:he|she)${E}`;
const SOMEONE = `${B}(?:someone|somebody|some (?:engineer|developer|dev|one))${E}`;
const PERSON_NOUN =
  "(?:on-?call(?: (?:engineer|person|responder))?|engineers?|developers?|devs?|sres?|interns?|reviewers?|new hires?|contractors?|persons?|" +
  "(?:incident )?commander|scribe|comms lead|responders?|team ?mates?|co-?workers?|colleagues?)";
const ROLE_PHRASE = `${B}(?:the|an?|our|one of (?:the|our))\\s+${PERSON_NOUN}${E}`;

/** People that need no list of names (matched case-insensitively). */
const GENERIC_PERSON = `(?:${MENTION}|${HANDLE}|${PRONOUN}|${SOMEONE}|${ROLE_PHRASE})`;

const ADVERB = "(?:\\s+(?:accidentally|mistakenly|clearly|obviously|just|then|also|apparently|carelessly|simply|really|basically))?";
const CAUSE_VERB =
  "\\s+(?:caused|broke|took down|brought down|messed up|screwed up|blew up|(?:is|was) (?:the )?(?:root )?cause|(?:is|was) responsible for|(?:is|was) at fault)" + E;
const FAILED_VERB = "\\s+(?:failed|neglected|didn't bother|did not bother|refused|omitted)\\s+to" + E;
const SHOULD_HAVE = "(?:should|ought to)(?:'ve|’ve|\\s+have)";
const HINDSIGHT_PERSON_VERB =
  `\\s+(?:really\\s+|clearly\\s+|obviously\\s+)?${SHOULD_HAVE}\\s+(?:caught|seen|tested|checked|reviewed|spotted|verified|validated|noticed|done|rolled back|waited|escalated|asked)${E}`;

/** "not Bob's fault", "no one's fault": defending someone is not blaming them. */
const NEGATED = /\b(?:not|no|never|isn't|wasn't|nobody|no one|without)\b[^.!?\n]{0,20}$/i;
/** "The push by @bob caused ...": after a preposition the person is not the subject. */
const AFTER_PREPOSITION = /\b(?:by|from|of|to|with|for|via|per|after|before|than)\s+[<@]*$/i;
/** How far back the guards look. */
const GUARD_WINDOW = 40;
const NOT_SOMEONE = "(?!(?:Nobody|Noone|No one|It|That|There|Here|What|Who|Where|He|She|Let)['’])";
const FAULT_NOUN = "(?:own\\s+)?(?:fault|mistake|screw-?up|blunder)(?!-|\\s+(?:toleran\\w*|injection|domains?|lines?|zones?|isolation|detection|handling|code|paths?))" + E;

/** Locale-independent ordering, so the output does not depend on the machine's locale. */
function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Full names plus first names (at least 3 letters), longest first so "Ann Lee" wins over "Ann". */
function nameAlternation(names: readonly string[]): string | null {
  const set = new Set<string>();
  for (const raw of names) {
    const name = raw.trim().replace(/^@/, "").replace(/\s+/g, " ");
    if (name.length >= 3) set.add(name);
    const first = name.split(" ")[0] ?? "";
    if (first.length >= 3 && first !== name) set.add(first);
  }
  if (set.size === 0) return null;
  const sorted = [...set].sort((a, b) => b.length - a.length || byCodePoint(a, b));
  return `${B}@?(?:${sorted.map(escapeRegExp).join("|")})${E}`;
}

/** The rules, with patterns for `names` (participants' names, matched case-sensitively). */
export function blamelessRules(names: readonly string[] = []): BlamelessRule[] {
  const named = nameAlternation(names);
  /** A rule pattern about a person: once for generic people (any case), once for names (exact case). */
  const aboutPerson = (tail: string, head = ""): RegExp[] => {
    const patterns = [new RegExp(`${head}${GENERIC_PERSON}${tail}`, "giu")];
    if (named) patterns.push(new RegExp(`${head}${named}${tail}`, "gu"));
    return patterns;
  };
  const possessive = [
    new RegExp(`${B}(?:his|her|my|your|their|someone['’]s|somebody['’]s)\\s+(?:own\\s+)?(?:fault|mistake|error|screw-?up|blunder)${E}`, "giu"),
    new RegExp(`(?:${MENTION}|${HANDLE})['’]s?\\s+${FAULT_NOUN}`, "giu"),
    new RegExp(`${B}${NOT_SOMEONE}\\p{Lu}[\\p{L}-]*['’]s?\\s+${FAULT_NOUN}`, "gu"),
  ];
  if (named) possessive.push(new RegExp(`${named}['’]s?\\s+(?:own\\s+)?(?:error|fault|mistake)${E}`, "gu"));

  return [
    {
      id: "possessive-fault",
      trigger: /fault|mistake|error|screw|blunder/i,
      patterns: possessive,
      unlessBefore: NEGATED,
      explanation: "Calls the incident a person's fault, which ends the inquiry at a person instead of the conditions that made the failure possible.",
      suggestion: "Describe what happened and what allowed it: \"The change reached production without a check that would have caught it.\"",
    },
    {
      id: "human-error",
      trigger: /error|pebkac|pebcak|id10t|layer/i,
      patterns: [/\b(?:human|pilot|engineer|developer|people)[\s-]+errors?\b/giu, /\b(?:pebkac|pebcak|id10t|layer[\s-]?8 (?:issue|problem|error))\b/giu],
      explanation: "\"Human error\" is a label, not a cause: people's actions made sense to them with what they knew at the time.",
      suggestion: "Ask what made the action easy to take and hard to notice: missing guard rails, confusing tooling, time pressure, unclear runbooks.",
    },
    {
      id: "careless",
      trigger: /careless|reckless|incompeten|clueless|slopp|lazy|lazi|ball|asleep|attention|finger/i,
      patterns: [
        /\b(?:careless(?:ly|ness)?|reckless(?:ly|ness)?|incompetent(?:ly)?|incompetence|clueless|sloppiness|laziness)\b/giu,
        /\bsloppy\b(?!\s+quorum)/giu,
        /\blazy\b(?![\s-]+(?:load|init|evaluat|eval|fetch|compil|instantiat))/giu,
        /\b(?:dropped the ball|asleep at the wheel|(?:wasn't|was not|weren't|were not|didn't|did not) pay(?:ing)? attention|fat[\s-]?finger(?:ed|ing|s)?)\b/giu,
      ],
      explanation: "Judges a person's character or attention rather than describing the work situation.",
      suggestion: "Describe the conditions instead: workload, alert noise, interface design, missing confirmation or review steps.",
    },
    {
      id: "negligent",
      trigger: /negligen/i,
      patterns: [/\bnegligen(?:t|tly|ce)\b/giu],
      explanation: "\"Negligent\" is a legal and moral judgement about a person, not an engineering finding.",
      suggestion: "State which safeguard was missing or bypassed and why that was possible.",
    },
    {
      id: "hindsight",
      trigger: /should|ought/i,
      unlessBefore: AFTER_PREPOSITION,
      patterns: [
        new RegExp(`${B}${SHOULD_HAVE}\\s+(?:known|realized|realised|been more careful|paid (?:more )?attention|double[\\s-]checked|remembered|thought)${E}`, "giu"),
        ...aboutPerson(HINDSIGHT_PERSON_VERB),
      ],
      explanation: "Hindsight: what is obvious after the incident was not obvious during it. \"Should have\" judges the person against knowledge they did not have.",
      suggestion: "Ask what the person saw at the time and what would have made the problem visible: \"The dashboard did not show …\", \"No alert fired for …\".",
    },
    {
      id: "forgot",
      trigger: /forg/i,
      patterns: [/\b(?:forgot|forgetting\s+to)\b/giu],
      explanation: "Points at a person's memory. Steps that depend on someone remembering will be missed again.",
      suggestion: "Describe the step as a process gap: \"The rollout checklist does not include …\"; \"Nothing enforces …\".",
    },
    {
      id: "person-failed-to",
      trigger: /failed|neglected|bother|refused|omitted/i,
      unlessBefore: AFTER_PREPOSITION,
      patterns: aboutPerson(ADVERB + FAILED_VERB),
      explanation: "Frames a person's action (or inaction) as the failure.",
      suggestion: "Describe what the system did or did not make easy: \"The deploy tool did not require …\", \"The runbook did not mention …\".",
    },
    {
      id: "blame",
      trigger: /blam/i,
      patterns: [/\bblam(?:e|ed|es|ing)\b/giu],
      unlessBefore: NEGATED,
      explanation: "A post-mortem looks for causes and fixes, not for someone to blame.",
      suggestion: "Replace with what contributed to the failure and what will prevent it.",
    },
    {
      id: "person-as-cause",
      trigger: /caus|broke|took down|brought down|messed|screwed|blew|responsib|fault/i,
      unlessBefore: AFTER_PREPOSITION,
      patterns: [
        ...aboutPerson(ADVERB + CAUSE_VERB),
        ...aboutPerson("", "\\broot[\\s-]+cause\\s*(?:is|was|=|:)\\s*(?:that\\s+)?"),
      ],
      explanation: "Names a person as the cause. Incidents come from systems and conditions; a person's action is where the inquiry starts, not where it ends.",
      suggestion: "Make the change the subject and ask why it could do harm: \"The config change caused …; nothing validated it because …\".",
    },
  ];
}

const CONTEXT = 30;

function excerptOf(text: string, start: number, end: number): string {
  const from = Math.max(0, start - CONTEXT);
  const to = Math.min(text.length, end + CONTEXT);
  const body = text.slice(from, to).replace(/\s+/g, " ").trim();
  return `${from > 0 ? "…" : ""}${body}${to < text.length ? "…" : ""}`;
}

/**
 * Reviews free-text parts and returns one finding per flagged passage (per
 * rule, overlapping matches of one rule count once), in the order of the
 * texts and of the passages within them.
 */
export function reviewBlameless(texts: readonly ReviewText[], names: readonly string[] = []): Finding[] {
  const rules = blamelessRules(names);
  const findings: Finding[] = [];
  for (const { where, text } of texts) {
    if (text.trim() === "") continue;
    const found: Array<Finding & { start: number }> = [];
    for (const rule of rules) {
      if (!rule.trigger.test(text)) continue;
      const spans: Array<[number, number]> = [];
      for (const pattern of rule.patterns) {
        for (const match of text.matchAll(pattern)) {
          const start = match.index;
          const end = start + match[0].length;
          if (match[0] === "" || spans.some(([s, e]) => start < e && end > s)) continue;
          if (rule.unlessBefore?.test(text.slice(Math.max(0, start - GUARD_WINDOW), start))) continue;
          spans.push([start, end]);
          found.push({
            ruleId: rule.id,
            where,
            match: match[0],
            excerpt: excerptOf(text, start, end),
            explanation: rule.explanation,
            suggestion: rule.suggestion,
            start,
          });
        }
      }
    }
    found.sort((a, b) => a.start - b.start);
    for (const { start: _start, ...finding } of found) findings.push(finding);
  }
  return findings;
}
