/**
 * Browser transport: gRPC-Web over `fetch`, from @connectrpc/connect-web.
 * The Pulse server accepts gRPC-Web (HTTP/1.1 too) on its gRPC port; a page
 * served from another origin must be listed in `--cors-allow-origin`.
 *
 *     import { Frontend } from "@pulse/client";
 *     import { webTransport } from "@pulse/client/web";
 *     const frontend = new Frontend(webTransport("https://pulse.example.com"), "pk_…", userToken);
 *
 * No Node-only import here or in ./index.ts: both bundle for the browser.
 */

import { createGrpcWebTransport, type GrpcWebTransportOptions } from "@connectrpc/connect-web";
import type { Transport } from "@connectrpc/connect";

/** Everything `createGrpcWebTransport` takes except `baseUrl`. */
export type WebTransportOptions = Omit<GrpcWebTransportOptions, "baseUrl">;

/** A gRPC-Web transport to the Pulse server at `baseUrl` (its gRPC port). */
export function webTransport(baseUrl: string, options: WebTransportOptions = {}): Transport {
  return createGrpcWebTransport({ ...options, baseUrl });
}
