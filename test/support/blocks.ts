/** Every mrkdwn text object's text in a Block Kit payload (blocks, modals, nested elements), in order. */
export function mrkdwnTexts(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) {
    for (const item of value) mrkdwnTexts(item, out);
  } else if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (record.type === "mrkdwn" && typeof record.text === "string") out.push(record.text);
    for (const inner of Object.values(record)) if (inner !== null && typeof inner === "object") mrkdwnTexts(inner, out);
  }
  return out;
}
