/**
 * Node.js transport: native gRPC over HTTP/2 (`h2c` for `http://` base URLs,
 * TLS for `https://`), from @connectrpc/connect-node.
 *
 *     import { Admin } from "@pulse/client";
 *     import { nodeTransport } from "@pulse/client/node";
 *     const admin = new Admin(nodeTransport("http://127.0.0.1:50051"), process.env.PULSE_ADMIN_TOKEN!);
 */

import { createGrpcTransport, type GrpcTransportOptions } from "@connectrpc/connect-node";
import type { Transport } from "@connectrpc/connect";

/** Everything `createGrpcTransport` takes except `baseUrl` (set) and `httpVersion` (always "2"). */
export type NodeTransportOptions = Omit<GrpcTransportOptions, "baseUrl">;

/** A gRPC transport to the Pulse server at `baseUrl`, e.g. `http://127.0.0.1:50051`. */
export function nodeTransport(baseUrl: string, options: NodeTransportOptions = {}): Transport {
  return createGrpcTransport({ ...options, baseUrl, httpVersion: "2" } as GrpcTransportOptions);
}
