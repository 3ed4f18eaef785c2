// Data of the selected environment: rooms (with who may open them) → a
// room's threads → a thread's comments, and users. All through
// EnvironmentService's admin RPCs. Read-only: room access is changed by the
// customer's backend (RoomService.UpdateRoomAccess), not here.

import { describe, Role, RoomAccess, type Admin, type Comment, type Room, type Thread } from "../api.js";
import type { Ctx } from "../ctx.js";
import { formDialog } from "../dialogs.js";
import { h, replace, row, table } from "../dom.js";
import { count } from "../format.js";
import { header, loading, noEnvironment, Pager, pagerControls, time } from "./common.js";

const PAGE_SIZE = 25;
/** Access entries shown as chips in a room's row before "+N more". */
const ACCESS_PREVIEW = 3;

/** What is open, per environment (kept while moving between screens). */
interface DataState {
  envId: string;
  rooms: Pager;
  users: Pager;
  room: string | null;
  threads: Pager;
  thread: string | null;
  /** The open thread's fields (shown when comments cannot be listed). */
  threadInfo: Thread | null;
}

let state: DataState | null = null;

export async function renderData(ctx: Ctx): Promise<void> {
  const env = ctx.env;
  if (!env) return noEnvironment(ctx, "Data");
  if (state?.envId !== env.id) {
    state = { envId: env.id, rooms: new Pager(), users: new Pager(), room: null, threads: new Pager(), thread: null, threadInfo: null };
  }
  const st = state;
  const rooms = h("section", { class: "card", "aria-labelledby": "rooms-title" });
  const threads = h("section", { class: "card", "aria-labelledby": "threads-title" });
  const comments = h("section", { class: "card", "aria-labelledby": "comments-title" });
  const users = h("section", { class: "card", "aria-labelledby": "users-title" });
  ctx.root.append(
    header("Data", ["Rooms, threads, comments and users of ", h("strong", null, env.displayName), ". Read-only."]),
    h("div", { class: "data-grid" }, h("div", { class: "stack" }, rooms, threads, comments), h("div", { class: "stack" }, users)),
  );

  const showComments = async () => {
    if (!st.thread) {
      comments.hidden = true;
      return;
    }
    comments.hidden = false;
    replace(comments, h("h2", { id: "comments-title" }, "Comments"), loading());
    const threadId = st.thread;
    try {
      const list = await listComments(ctx.admin, env.id, threadId);
      if (!ctx.alive() || st.thread !== threadId) return;
      replace(
        comments,
        h("h2", { id: "comments-title" }, "Comments"),
        h("p", { class: "hint" }, "Thread ", h("code", null, threadId)),
        commentList(list),
      );
    } catch (err) {
      if (!ctx.alive()) return;
      replace(comments, h("h2", { id: "comments-title" }, "Comments"));
      ctx.fail(err);
    }
  };

  const showThreads = async () => {
    if (!st.room) {
      threads.hidden = true;
      comments.hidden = true;
      return;
    }
    const roomId = st.room;
    threads.hidden = false;
    const title = () => h("h2", { id: "threads-title" }, `Threads in ${roomId}`);
    replace(threads, title(), loading());
    try {
      const page = await ctx.admin.environments.listEnvironmentThreads({
        environmentId: env.id,
        roomId,
        pageSize: PAGE_SIZE,
        pageToken: st.threads.current,
      });
      if (!ctx.alive() || st.room !== roomId) return;
      st.threads.next = page.nextPageToken;
      const rows = page.threads.map((t) => {
        const tr = row(
          h(
            "button",
            {
              type: "button",
              class: "link",
              "aria-label": `Open thread ${t.id}`,
              "aria-current": st.thread === t.id ? "true" : undefined,
              onclick: (event: Event) => {
                st.thread = t.id;
                st.threadInfo = t;
                markCurrent(threads, event.currentTarget as HTMLElement);
                void showComments();
              },
            },
            t.id,
          ),
          time(t.createTime),
          h("span", { class: "num" }, count(t.commentCount)),
        );
        if (st.thread === t.id) tr.classList.add("selected");
        return tr;
      });
      replace(
        threads,
        title(),
        table(`Threads in ${roomId}`, ["Thread", "Created", "Comments"], rows, "No threads in this room."),
        h("div", { class: "pager" }, pagerControls(st.threads, "threads", () => void showThreads())),
      );
    } catch (err) {
      if (!ctx.alive()) return;
      replace(threads, title());
      ctx.fail(err);
    }
  };

  /** A section whose load failed shows its heading and the error, not "Loading…" forever. */
  const failed = (section: HTMLElement, id: string, heading: string) => (err: unknown) => {
    if (!ctx.alive()) return;
    replace(section, h("h2", { id }, heading));
    ctx.fail(err);
  };

  const showRooms = async () => {
    const title = h("h2", { id: "rooms-title" }, "Rooms");
    replace(rooms, title, loading());
    const page = await ctx.admin.environments.listEnvironmentRooms({
      environmentId: env.id,
      pageSize: PAGE_SIZE,
      pageToken: st.rooms.current,
    });
    if (!ctx.alive()) return;
    st.rooms.next = page.nextPageToken;
    const rows = page.rooms.map((room) => {
      const metadata = Object.entries(room.metadata);
      const tr = row(
        h(
          "button",
          {
            type: "button",
            class: "link",
            "aria-label": `Open room ${room.id}`,
            "aria-current": st.room === room.id ? "true" : undefined,
            onclick: (event: Event) => {
              st.room = room.id;
              st.threads.reset();
              st.thread = null;
              st.threadInfo = null;
              markCurrent(rooms, event.currentTarget as HTMLElement);
              void showThreads();
              void showComments();
            },
          },
          room.id,
        ),
        time(room.createTime),
        accessCell(room),
        metadata.length > 0
          ? h("div", { class: "tags" }, metadata.map(([k, v]) => h("span", { class: "tag" }, `${k}=${v}`)))
          : h("span", { class: "muted" }, "—"),
      );
      if (st.room === room.id) tr.classList.add("selected");
      return tr;
    });
    replace(
      rooms,
      title,
      h(
        "p",
        { class: "hint" },
        "Access: what users with stored-access tokens may do in a room — its default, or an entry for the user or a group of theirs (the highest applies).",
      ),
      table("Rooms", ["Room", "Created", "Access", "Metadata"], rows, "No rooms yet."),
      pagerControls(st.rooms, "rooms", () => void showRooms().catch(failed(rooms, "rooms-title", "Rooms"))),
    );
  };

  const showUsers = async () => {
    const title = h("h2", { id: "users-title" }, "Users");
    replace(users, title, loading());
    const page = await ctx.admin.environments.listEnvironmentUsers({
      environmentId: env.id,
      pageSize: PAGE_SIZE,
      pageToken: st.users.current,
    });
    if (!ctx.alive()) return;
    st.users.next = page.nextPageToken;
    // Ending a user's sessions needs a developer.
    const canEnd = ctx.can(Role.DEVELOPER);
    const rows = page.users.map((user) =>
      row(
        h("code", null, user.id),
        user.name || h("span", { class: "muted" }, "—"),
        time(user.createTime),
        canEnd &&
          h(
            "button",
            {
              type: "button",
              class: "small",
              "aria-label": `End sessions of ${user.id}`,
              onclick: () => endSessions(ctx, env.id, user.id),
            },
            "End sessions",
          ),
      ),
    );
    replace(
      users,
      title,
      table("Users", canEnd ? ["User", "Name", "First seen", "Actions"] : ["User", "Name", "First seen"], rows, "No users yet."),
      pagerControls(st.users, "users", () => void showUsers().catch(failed(users, "users-title", "Users"))),
    );
  };

  await Promise.all([
    showRooms().catch(failed(rooms, "rooms-title", "Rooms")),
    showUsers().catch(failed(users, "users-title", "Users")),
    showThreads(),
    showComments(),
  ]);
}

type AccessName = "read" | "write" | "none";

/** A stored access as a word; unset means none (as for a room's default). */
function accessName(access: RoomAccess): AccessName {
  switch (access) {
    case RoomAccess.WRITE:
      return "write";
    case RoomAccess.READ:
      return "read";
    default:
      return "none";
  }
}

/** `alice: write`, `group eng: read`: users first, then groups, each by id. */
function accessEntries(room: Room): { text: string; access: AccessName }[] {
  const byId = ([a]: [string, RoomAccess], [b]: [string, RoomAccess]) => (a < b ? -1 : a > b ? 1 : 0);
  return [
    ...Object.entries(room.userAccesses)
      .sort(byId)
      .map(([id, access]) => ({ text: `${id}: ${accessName(access)}`, access: accessName(access) })),
    ...Object.entries(room.groupAccesses)
      .sort(byId)
      .map(([id, access]) => ({ text: `group ${id}: ${accessName(access)}`, access: accessName(access) })),
  ];
}

/**
 * A room's access: the default as a badge, the first entries as chips, and
 * when there are more, "+N more" opening the full list (which then replaces
 * the chips).
 */
function accessCell(room: Room): HTMLElement {
  const level = accessName(room.defaultAccess);
  const entries = accessEntries(room);
  const chip = (e: { text: string; access: AccessName }, extra = "") =>
    h("span", { class: `tag access-${e.access}${extra}` }, e.text);
  const hidden = entries.length - ACCESS_PREVIEW;
  // Many rows say "+N more": screen readers also hear whose entries.
  const summaryText = (open: boolean) => [
    open ? "Show fewer" : `+${hidden} more`,
    h("span", { class: "visually-hidden" }, ` access entries of ${room.id}`),
  ];
  return h(
    "div",
    { class: "access" },
    h("span", { class: `badge access-${level}` }, `default: ${level}`),
    entries.slice(0, ACCESS_PREVIEW).map((e) => chip(e, " access-preview")),
    hidden > 0
      ? h(
          "details",
          {
            ontoggle: (event: Event) => {
              const details = event.currentTarget as HTMLDetailsElement;
              const summary = details.querySelector("summary");
              if (summary) replace(summary, summaryText(details.open));
            },
          },
          h("summary", null, summaryText(false)),
          h(
            "ul",
            { class: "access-list", "aria-label": `Access entries of ${room.id}` },
            entries.map((e) => h("li", null, chip(e))),
          ),
        )
      : null,
  );
}

/** Marks `button` as the open item of its table (aria-current, row highlight). */
function markCurrent(section: HTMLElement, button: HTMLElement): void {
  for (const other of Array.from(section.querySelectorAll("button[aria-current]"))) {
    other.removeAttribute("aria-current");
    other.closest("tr")?.classList.remove("selected");
  }
  button.setAttribute("aria-current", "true");
  button.closest("tr")?.classList.add("selected");
}

function commentList(list: Comment[]): HTMLElement {
  if (list.length === 0) return h("p", { class: "muted" }, "No comments.");
  return h(
    "ol",
    { class: "comments" },
    list.map((c) =>
      h(
        "li",
        null,
        h("p", { class: "comment-body" }, c.body),
        h(
          "p",
          { class: "hint" },
          h("code", null, c.userId),
          " · ",
          time(c.createTime),
          c.editTime ? [" · edited ", time(c.editTime)] : null,
        ),
      ),
    ),
  );
}

/** A thread's comments (up to 1,000), oldest first, with the admin token. */
async function listComments(admin: Admin, environmentId: string, threadId: string): Promise<Comment[]> {
  const out: Comment[] = [];
  let pageToken = "";
  do {
    const page = await admin.environments.listEnvironmentComments({ environmentId, threadId, pageSize: 100, pageToken });
    out.push(...page.comments);
    pageToken = page.nextPageToken;
  } while (pageToken !== "" && out.length < 1000);
  return out;
}

function endSessions(ctx: Ctx, environmentId: string, userId: string): void {
  formDialog({
    title: "End user sessions",
    submit: "End sessions",
    danger: true,
    body: () => [
      h(
        "p",
        null,
        "Every user token of ",
        h("code", null, userId),
        " minted before now stops working at once. The user can sign in again through your backend.",
      ),
    ],
    onSubmit: async () => {
      await ctx.admin.revokeEnvironmentUserTokens(environmentId, userId);
      ctx.announce(`Sessions of ${userId} ended`);
    },
    onError: (err) => ctx.endedSession(err),
    describeError: describe,
  });
}
