"""Build hook: compile proto/remsvc.proto into console/remsvc/_pb before every wheel or editable build.

The generated modules are never committed, so they cannot drift from the proto.
"""

from __future__ import annotations

import re
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

GENERATED_DIR = Path("console") / "remsvc" / "_pb"


def generate(root: Path) -> list[Path]:
    """Run grpc_tools.protoc and make the grpc module import its sibling relatively."""
    from grpc_tools import protoc

    out = root / GENERATED_DIR
    out.mkdir(parents=True, exist_ok=True)
    (out / "__init__.py").write_text('"""Generated from proto/remsvc.proto at build time."""\n')
    proto_dir = root / "proto"
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{proto_dir}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        str(proto_dir / "remsvc.proto"),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed to compile proto/remsvc.proto")
    grpc_module = out / "remsvc_pb2_grpc.py"
    text = grpc_module.read_text()
    grpc_module.write_text(re.sub(r"^import remsvc_pb2 as", "from . import remsvc_pb2 as", text, flags=re.M))
    return sorted(out.glob("*.py*"))


class ProtoBuildHook(BuildHookInterface):
    PLUGIN_NAME = "proto"

    def initialize(self, version: str, build_data: dict) -> None:
        generate(Path(self.root))
