"""protoc plugin adapter for grpcio-tools' built-in ``grpc_python`` generator.

grpcio-tools ships the gRPC Python generator only inside its bundled protoc
(``python -m grpc_tools.protoc --grpc_python_out``), not as a
``protoc-gen-grpc_python`` executable, and buf runs only the protoc built-ins it
knows (python, pyi, ...). This plugin bridges the two: it reads buf's
CodeGeneratorRequest, hands the descriptors to grpc_tools' protoc as a
descriptor set and returns what it generated. Run with the venv's Python
(scripts/gen.sh puts it first on PATH); buf.gen.yaml refers to it as a local
plugin.
"""

from __future__ import annotations

import os
import sys
import tempfile

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc


def main() -> int:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    response = plugin_pb2.CodeGeneratorResponse(
        supported_features=plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    )
    with tempfile.TemporaryDirectory() as tmp:
        descriptor_set = os.path.join(tmp, "descriptors.binpb")
        out_dir = os.path.join(tmp, "out")
        os.mkdir(out_dir)
        with open(descriptor_set, "wb") as f:
            f.write(descriptor_pb2.FileDescriptorSet(file=request.proto_file).SerializeToString())
        out_arg = f"{request.parameter}:{out_dir}" if request.parameter else out_dir
        code = protoc.main(
            ["grpc_tools.protoc", f"--descriptor_set_in={descriptor_set}", f"--grpc_python_out={out_arg}"]
            + list(request.file_to_generate)
        )
        if code != 0:
            response.error = f"grpc_tools.protoc --grpc_python_out exited with {code}"
        else:
            for dirpath, _, filenames in sorted(os.walk(out_dir)):
                for filename in sorted(filenames):
                    path = os.path.join(dirpath, filename)
                    with open(path, encoding="utf-8") as f:
                        response.file.add(name=os.path.relpath(path, out_dir), content=f.read())
    sys.stdout.buffer.write(response.SerializeToString())
    return 0


if __name__ == "__main__":
    sys.exit(main())
