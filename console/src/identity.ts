import { get } from "./api";

export interface Identity {
  identity: string;
  role: string;
  may: string[];
}

let cached: Identity | null = null;

/** Who the API says the caller is (the role the local identity switch selects) and what the role may do. */
export async function loadIdentity(): Promise<Identity> {
  cached = await get<Identity>("/console/identity");
  return cached;
}

export function may(permission: string): boolean {
  return cached?.may.includes(permission) ?? false;
}
