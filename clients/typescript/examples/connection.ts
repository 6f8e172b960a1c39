// The connection flags the examples share: --addr, and the credentials of a
// server started with --auth-file and/or TLS.
//
//   --token T        a bearer token (default: $DUCKGRID_TOKEN)
//   --ca FILE        trust this CA (TLS; ca.pem of `duckgrid certs new`)
//   --cert FILE      client certificate for mutual TLS (with --key)
//   --key FILE       the client certificate's key
//   --server-name N  verify the server certificate against N instead of the host of --addr
//   --tls            TLS, verified against Node's default root certificates (implied by the above)
import { type ConnectOptions, type GridClient, connect } from "../src/index.js";

export const connectionFlags = {
  addr: { type: "string", default: "127.0.0.1:50051" },
  token: { type: "string" },
  ca: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  "server-name": { type: "string" },
  tls: { type: "boolean", default: false },
} as const;

export const connectionUsage = "[--addr A] [--token T] [--ca FILE] [--cert FILE --key FILE] [--server-name N] [--tls]";

export interface ConnectionArgs {
  addr: string;
  token?: string | undefined;
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  "server-name"?: string | undefined;
  tls?: boolean | undefined;
}

/** Whether the flags authenticate the client (a token or a client certificate). */
export function authenticated(args: ConnectionArgs): boolean {
  return tokenOf(args) !== undefined || args.cert !== undefined;
}

/**
 * Who a writing example says it is: --actor, else "ts-example" without
 * credentials (the server then records the x-duckgrid-actor header). With a
 * token or a client certificate the server knows who it is, so undefined:
 * nothing is sent unless --actor is given.
 */
export function actorOf(args: ConnectionArgs & { actor?: string | undefined }): string | undefined {
  return args.actor ?? (authenticated(args) ? undefined : "ts-example");
}

/** A client for the flags (the token from --token, else $DUCKGRID_TOKEN). */
export function connectWith(args: ConnectionArgs): GridClient {
  const options: ConnectOptions = {};
  const token = tokenOf(args);
  if (token !== undefined) options.token = token;
  if (args.ca !== undefined) options.ca = args.ca;
  if (args.cert !== undefined) options.cert = args.cert;
  if (args.key !== undefined) options.key = args.key;
  if (args["server-name"] !== undefined) options.serverName = args["server-name"];
  if (args.tls === true) options.tls = true;
  return connect(args.addr, options);
}

function tokenOf(args: ConnectionArgs): string | undefined {
  const token = args.token ?? process.env["DUCKGRID_TOKEN"];
  return token === undefined || token === "" ? undefined : token;
}
