// Roles (access.proto `Role`): OWNER > ADMIN > DEVELOPER > VIEWER. The
// console shows only what the caller's role may do (GetCaller); the server
// enforces it either way (PERMISSION_DENIED).

import { Role, type Environment, type GetCallerResponse } from "./api.js";

/** Most powerful first, as the role selects list them. */
export const ROLES: Role[] = [Role.OWNER, Role.ADMIN, Role.DEVELOPER, Role.VIEWER];

const NAMES: Record<number, string> = {
  [Role.OWNER]: "Owner",
  [Role.ADMIN]: "Admin",
  [Role.DEVELOPER]: "Developer",
  [Role.VIEWER]: "Viewer",
};

const WHAT: Record<number, string> = {
  [Role.OWNER]: "everything, including owners",
  [Role.ADMIN]: "everything except owners",
  [Role.DEVELOPER]: "environments, keys and admin tokens; deletes nothing",
  [Role.VIEWER]: "reads only",
};

export function roleName(role: Role): string {
  return NAMES[role] ?? "Unknown";
}

export function roleWhat(role: Role): string {
  return WHAT[role] ?? "";
}

/** `role` is at least `least` (the enum counts down from OWNER = 1). */
export function atLeast(role: Role, least: Role): boolean {
  return role !== Role.UNSPECIFIED && role <= least;
}

/** The roles `caller` may grant: its own and below (only an owner grants owner). */
export function grantable(caller: GetCallerResponse): Role[] {
  return ROLES.filter((r) => atLeast(caller.role, r));
}

/** "Whole account", or the names of the environments (an unknown id as itself). */
export function scopeText(environmentIds: readonly string[], environments: readonly Environment[]): string {
  if (environmentIds.length === 0) return "Whole account";
  return environmentIds.map((id) => environments.find((e) => e.id === id)?.displayName ?? id).join(", ");
}
