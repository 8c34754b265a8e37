"""The workspace is a correct ROS 2 workspace: every package's manifest parses, names its real
dependencies, and every console script resolves to a callable."""
import ast
import importlib
from pathlib import Path

import pytest
from catkin_pkg.package import parse_package

SRC = Path(__file__).resolve().parents[2]
PACKAGES = ["dexpie_msgs", "dexpie_common", "dexpie_episode", "dexpie_policy", "dexpie_teleop", "dexpie_control",
            "dexpie_learning", "dexpie_sim", "dexpie_experiment", "dexpie_bringup"]
PYTHON_PACKAGES = PACKAGES[1:]


def test_workspace_has_exactly_the_designed_packages():
    found = sorted(p.parent.name for p in SRC.glob("*/package.xml"))
    assert found == sorted(PACKAGES)


@pytest.mark.parametrize("name", PACKAGES)
def test_manifest_parses_and_is_consistent(name):
    package = parse_package(SRC / name / "package.xml")
    assert package.name == name
    package.validate()
    build_type = package.get_build_type()
    assert build_type == ("ament_cmake" if name == "dexpie_msgs" else "ament_python")
    if build_type == "ament_python":
        assert (SRC / name / "resource" / name).is_file(), "ament index marker missing"
        assert (SRC / name / "test").is_dir()


def console_scripts(name):
    tree = ast.parse((SRC / name / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "console_scripts":
                    return [ast.literal_eval(v) for v in value.elts]
    return []


@pytest.mark.parametrize("name", PYTHON_PACKAGES)
def test_console_scripts_resolve(name):
    for entry in console_scripts(name):
        script, target = (s.strip() for s in entry.split("="))
        module, _, attr = target.partition(":")
        assert callable(getattr(importlib.import_module(module), attr)), f"{script} -> {target}"


@pytest.mark.parametrize("name", PYTHON_PACKAGES)
def test_python_imports_of_a_package_are_declared(name):
    """Workspace packages a package imports must be in its package.xml (colcon orders builds by them)."""
    declared = {d.name for d in parse_package(SRC / name / "package.xml").exec_depends}
    imported = set()
    for path in (SRC / name / name).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
    workspace_imports = {m for m in imported if m in PACKAGES and m != name}
    assert workspace_imports <= declared, f"undeclared: {sorted(workspace_imports - declared)}"
    ros_imports = {m for m in imported if m in {"rclpy", "sensor_msgs", "geometry_msgs", "std_msgs",
                                                  "visualization_msgs", "std_srvs", "rcl_interfaces",
                                                  "builtin_interfaces"}}
    assert ros_imports <= declared, f"undeclared: {sorted(ros_imports - declared)}"
