"""The connection flags the examples share (the address, a bearer token and
TLS), the actor the writing examples name, and how they print a failed call."""

from __future__ import annotations

import argparse
import os

import grpc

import duckgrid_client as dg

#: The environment variable a token is read from when --token is not given.
TOKEN_ENV = "DUCKGRID_TOKEN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--addr, --token, --ca, --cert, --key, --server-name and --tls."""
    group = parser.add_argument_group("connection")
    group.add_argument("--addr", default="127.0.0.1:50051", help="server address host:port")
    group.add_argument("--token", default=os.environ.get(TOKEN_ENV) or None,
                       help=f"bearer token (dg_...; default: ${TOKEN_ENV}), sent as authorization: Bearer <token>")
    group.add_argument("--ca", metavar="PEM", help="CA certificate to verify the server with (implies TLS)")
    group.add_argument("--cert", metavar="PEM", help="client certificate for mutual TLS (with --key)")
    group.add_argument("--key", metavar="PEM", help="client certificate's private key (with --cert)")
    group.add_argument("--server-name", help="name to verify the server's certificate against (implies TLS)")
    group.add_argument("--tls", action="store_true", help="TLS with the system's roots (implied by --ca, --cert, --server-name)")


def has_credentials(args: argparse.Namespace) -> bool:
    """Whether the server identifies this client by a token or a client certificate."""
    return bool(args.token) or args.cert is not None


def actor(args: argparse.Namespace) -> str | None:
    """Who the example says it is: --actor, else "python-example" without
    credentials (the server then records the x-duckgrid-actor header). With a
    token or a client certificate the server knows who it is, so None: nothing
    is sent unless --actor is given."""
    name: str | None = args.actor
    if name is None and not has_credentials(args):
        name = "python-example"
    return name


def rpc_error(err: grpc.RpcError) -> str:
    """A failed call as "<status code>: <details>"."""
    return (f"{err.code() if isinstance(err, grpc.Call) else err}: "
            f"{err.details() if isinstance(err, grpc.Call) else ''}")


def connect(parser: argparse.ArgumentParser, args: argparse.Namespace) -> grpc.Channel:
    """The channel the flags describe; bad flags exit through ``parser.error``."""
    if (args.cert is None) != (args.key is None):
        parser.error("--cert and --key go together")
    try:
        return dg.connect(
            args.addr,
            token=args.token or None,
            tls=True if args.tls else None,
            root_certificates=args.ca,
            certificate_chain=args.cert,
            private_key=args.key,
            server_name=args.server_name,
        )
    except (OSError, ValueError) as err:
        parser.error(str(err))
