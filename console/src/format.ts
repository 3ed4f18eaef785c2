// How values are shown: timestamps as local ISO-like text, counts with
// thousands separators.

/** The shape of google.protobuf.Timestamp (seconds are a bigint in protobuf-es v2). */
export interface Ts {
  seconds: bigint;
  nanos: number;
}

export function toDate(ts: Ts | undefined): Date | undefined {
  if (!ts) return undefined;
  return new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000));
}

const pad = (n: number) => String(n).padStart(2, "0");

/** Local time, ISO-like: `2025-01-31 14:05:09` (the zone is the browser's). */
export function localTime(date: Date): string {
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/** A `<time>`-ready pair: text and the machine-readable ISO value; `unset` when absent. */
export function when(ts: Ts | undefined, unset = "—"): { text: string; iso?: string } {
  const date = toDate(ts);
  if (!date) return { text: unset };
  return { text: localTime(date), iso: date.toISOString() };
}

/** `12,345` */
export function count(n: bigint | number): string {
  return n.toLocaleString("en-US");
}

/** The browser's UTC offset, e.g. `UTC+02:00`, for table captions. */
export function zoneLabel(): string {
  const minutes = -new Date().getTimezoneOffset();
  const sign = minutes >= 0 ? "+" : "−";
  const abs = Math.abs(minutes);
  return `UTC${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** `1 user token`, `3 user tokens`. */
export function plural(n: bigint | number, noun: string): string {
  return `${count(n)} ${noun}${n === 1 || n === 1n ? "" : "s"}`;
}
