// Analytics of the selected environment: the four counts, and the last
// 24 hours of key usage as an inline SVG bar chart (no chart library).

import type { UsageBucket } from "../api.js";
import type { Ctx } from "../ctx.js";
import { h, s, table } from "../dom.js";
import { count, localTime, plural, toDate } from "../format.js";
import { header, loading, noEnvironment } from "./common.js";

export async function renderAnalytics(ctx: Ctx): Promise<void> {
  const env = ctx.env;
  if (!env) return noEnvironment(ctx, "Analytics");
  const body = h("div", null, loading());
  ctx.root.append(header("Analytics", ["What ", h("strong", null, env.displayName), " holds, and how its keys are used."]), body);
  const [stats, usage] = await Promise.all([
    ctx.admin.environments.getEnvironmentStats({ environmentId: env.id }),
    ctx.admin.environments.getEnvironmentUsage({ environmentId: env.id }),
  ]);
  if (!ctx.alive()) return;
  const tiles: [string, bigint][] = [
    ["Rooms", stats.roomCount],
    ["Threads", stats.threadCount],
    ["Users", stats.userCount],
    ["Comments", stats.commentCount],
  ];
  body.replaceChildren(
    h("dl", { class: "stats" }, tiles.map(([term, n]) => h("div", { class: "stat card" }, h("dt", null, term), h("dd", null, count(n))))),
    usageSection(usage.buckets),
  );
}

function usageSection(buckets: UsageBucket[]): HTMLElement {
  const sum = (pick: (b: UsageBucket) => bigint) => buckets.reduce((acc, b) => acc + pick(b), 0n);
  const ok = sum((b) => b.successCount);
  const refused = sum((b) => b.failureCount);
  const minted = sum((b) => b.mintedTokenCount);
  return h(
    "section",
    { class: "card", "aria-labelledby": "usage-title" },
    h("h2", { id: "usage-title" }, "Key usage, last 24 hours"),
    h(
      "p",
      { class: "lead" },
      `${plural(ok, "successful call")}, ${count(refused)} refused, ${plural(minted, "user token")} minted (all keys, hourly).`,
    ),
    h("div", { class: "chart-wrap" }, chart(buckets)),
    h(
      "ul",
      { class: "legend", "aria-hidden": "true" },
      h("li", null, h("span", { class: "swatch swatch-ok" }), "Successful"),
      h("li", null, h("span", { class: "swatch swatch-refused" }), "Refused"),
    ),
    h(
      "details",
      null,
      h("summary", null, "Usage as a table"),
      table(
        "Key usage per hour",
        ["Hour", "Successful", "Refused", "Tokens minted", "Revoked", "Expired", "Network", "Permission"],
        buckets.map((b) => {
          const start = toDate(b.startTime);
          return h(
            "tr",
            null,
            [
              start ? localTime(start).slice(0, 16) : "—",
              count(b.successCount),
              count(b.failureCount),
              count(b.mintedTokenCount),
              count(b.revokedCount),
              count(b.expiredCount),
              count(b.notAllowedNetworkCount),
              count(b.permissionDeniedCount),
            ].map((c) => h("td", null, c)),
          );
        }),
        "No usage data.",
      ),
    ),
  );
}

/** Stacked bars (successful, refused) per bucket, with a y-axis maximum and hour labels. */
function chart(buckets: UsageBucket[]): SVGSVGElement {
  const W = 720;
  const H = 220;
  const left = 44;
  const bottom = 28;
  const top = 12;
  const plotW = W - left - 8;
  const plotH = H - top - bottom;
  const max = buckets.reduce((m, b) => {
    const total = Number(b.successCount + b.failureCount);
    return total > m ? total : m;
  }, 0);
  const scaleMax = niceMax(max);
  const n = Math.max(buckets.length, 1);
  const slot = plotW / n;
  const barW = Math.max(2, slot * 0.7);
  const y = (v: number) => top + plotH - (v / scaleMax) * plotH;
  const total = buckets.reduce((acc, b) => acc + b.successCount + b.failureCount, 0n);

  // A middle grid line only where it falls on a whole number of calls.
  const fractions = scaleMax % 2 === 0 ? [0, 0.5, 1] : [0, 1];
  const grid = fractions.map((f) => {
    const v = scaleMax * f;
    return s(
      "g",
      null,
      s("line", { x1: left, x2: W - 8, y1: y(v), y2: y(v), class: "grid" }),
      s("text", { x: left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, formatShort(v)),
    );
  });
  const bars = buckets.map((b, i) => {
    const x = left + i * slot + (slot - barW) / 2;
    const okV = Number(b.successCount);
    const badV = Number(b.failureCount);
    const start = toDate(b.startTime);
    const label = start ? `${localTime(start).slice(0, 16)}: ${count(okV)} successful, ${count(badV)} refused` : "";
    return s(
      "g",
      null,
      s("title", null, label),
      okV > 0 ? s("rect", { x, y: y(okV), width: barW, height: y(0) - y(okV), class: "bar-ok", rx: 1.5 }) : null,
      badV > 0 ? s("rect", { x, y: y(okV + badV), width: barW, height: y(okV) - y(okV + badV), class: "bar-refused", rx: 1.5 }) : null,
      // Every 4th hour labelled (local time).
      i % 4 === 0 && start
        ? s("text", { x: x + barW / 2, y: H - 8, class: "axis", "text-anchor": "middle" }, `${String(start.getHours()).padStart(2, "0")}:00`)
        : null,
    );
  });
  return s(
    "svg",
    {
      class: "chart",
      viewBox: `0 0 ${W} ${H}`,
      role: "img",
      "aria-label": `Calls per hour over the last 24 hours: ${count(total)} in total, at most ${count(max)} in one hour.`,
    },
    grid,
    s("line", { x1: left, x2: W - 8, y1: y(0), y2: y(0), class: "baseline" }),
    bars,
  );
}

/** 1, 2, 5 × 10^k at or above `v` (at least 1). */
function niceMax(v: number): number {
  if (v <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function formatShort(v: number): string {
  if (v >= 1_000_000) return `${+(v / 1_000_000).toFixed(1)}M`;
  if (v >= 1000) return `${+(v / 1000).toFixed(1)}k`;
  return String(+v.toFixed(1));
}
