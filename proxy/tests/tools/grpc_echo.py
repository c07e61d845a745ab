"""A gRPC echo server and client (grpcio from PyPI, no generated code: raw bytes in and out).

    grpc_echo.py serve PORT                      serves /echo.Echo/Say (echoes the request,
                                                 prefixed) and /echo.Echo/Fail (NOT_FOUND)
    grpc_echo.py call TARGET [CA_FILE SERVER_NAME]
                                                 calls both through TARGET (TLS when a CA is
                                                 given) and prints one JSON line of results
"""
import json
import sys
from concurrent import futures

import grpc


def say(request, context):
    context.set_trailing_metadata((("x-echo-trailer", "kept"),))
    return b"echo:" + request


def fail(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")


def serve(port):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handlers = {
        "Say": grpc.unary_unary_rpc_method_handler(say),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("echo.Echo", handlers),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


def call(target, ca_file=None, server_name=None):
    if ca_file:
        with open(ca_file, "rb") as f:
            credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
        options = (("grpc.ssl_target_name_override", server_name),)
        channel = grpc.secure_channel(target, credentials, options)
    else:
        channel = grpc.insecure_channel(target)
    result = {}
    say_rpc = channel.unary_unary("/echo.Echo/Say")
    reply, outcome = say_rpc.with_call(b"hello", timeout=10)
    result["say"] = reply.decode()
    result["trailer"] = dict(outcome.trailing_metadata()).get("x-echo-trailer")
    try:
        channel.unary_unary("/echo.Echo/Fail")(b"x", timeout=10)
        result["fail"] = "OK"
    except grpc.RpcError as error:
        result["fail"] = error.code().name
        result["fail_details"] = error.details()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        call(*sys.argv[2:])
