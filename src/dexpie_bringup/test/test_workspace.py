"""The workspace is a correct ROS 2 workspace: every package's manifest parses, names its real
dependencies, and every console script resolves to a callable."""
import ast
import importlib
from pathlib import Path

import pytest
from catkin_pkg.package import parse_package

SRC = Path(__file__).resolve().parents[2]
PACKAGES = ["dexpie_msgs", "dexpie_common", "dexpie_episode", "dexpie_policy", "dexpie_teleop", "dexpie_control",
            "dexpie_learning", "dexpie_sim", "dexpie_experiment", "dexpie_bringup", "dexpie_viewer"]
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


ROS_MODULES = {"rclpy", "sensor_msgs", "geometry_msgs", "std_msgs", "visualization_msgs", "std_srvs",
               "rcl_interfaces", "builtin_interfaces", "dexpie_msgs"}
# What each floor may stand on (workspace packages and ROS); learning stands beside the twin,
# not on it, and runs on a workstation without ROS.
MAY_IMPORT = {
    "dexpie_common": set(),
    "dexpie_episode": {"dexpie_common"},
    "dexpie_learning": {"dexpie_common", "dexpie_episode", "dexpie_policy"},
}


def module_imports() -> dict[str, set[str]]:
    """Every non-test module of the workspace -> the workspace modules it imports (anywhere in
    the file, lazy imports included: a cycle through a function-level import is still one)."""
    modules = {}
    for package in PYTHON_PACKAGES:
        for path in (SRC / package / package).rglob("*.py"):
            parts = path.relative_to(SRC / package).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def resolve(name):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges = {}
    for module, path in modules.items():
        here = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = here.split(".")[:len(here.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets.update(resolve(f"{base}.{a.name}") or resolve(base) for a in node.names)
            elif isinstance(node, ast.Import):
                targets.update(resolve(a.name) or a.name for a in node.names)
        edges[module] = {t for t in targets if t and t != module}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for v in list(edges):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_lazy_import_cycle():
    # The shape of the pipeline <-> pipeline_report cycle the layout removed.
    assert cycles({"a.pipeline": {"a.report"}, "a.report": {"a.pipeline"}, "a.x": {"a.pipeline"}}) \
        == [["a.pipeline", "a.report"]]


def test_no_module_import_cycle_and_no_package_cycle():
    edges = module_imports()
    assert cycles(edges) == []
    packages = {}
    for module, targets in edges.items():
        packages.setdefault(module.split(".")[0], set()).update(
            t.split(".")[0] for t in targets if t.split(".")[0] in PYTHON_PACKAGES)
    assert cycles({p: t - {p} for p, t in packages.items()}) == []


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_lower_floors_import_only_what_they_stand_on(package):
    imported = {t.split(".")[0] for m, targets in module_imports().items()
                if m.split(".")[0] == package for t in targets}
    workspace_or_ros = {p for p in imported if p in PACKAGES or p in ROS_MODULES} - {package}
    allowed = MAY_IMPORT[package] | ({"rclpy", "sensor_msgs", "std_msgs", "dexpie_msgs",
                                      "rcl_interfaces"} if package in ("dexpie_common", "dexpie_episode")
                                     else set())
    assert workspace_or_ros <= allowed, f"{package} imports {sorted(workspace_or_ros - allowed)}"
    if package == "dexpie_learning":
        assert not imported & (ROS_MODULES | {"mujoco", "dexpie_sim", "dexpie_experiment"})


# Third-party modules -> their rosdep key (ros/rosdistro rosdep/python.yaml); modules without
# one must be named in a package.xml comment pointing at requirements/python.txt.
ROSDEP_KEYS = {"numpy": "python3-numpy", "yaml": "python3-yaml", "torch": "python3-torch",
               "mujoco": "python3-mujoco-pip", "rosbags": "python3-rosbags-pip",
               "ruamel": "python3-ruamel.yaml", "tqdm": "python3-tqdm", "matplotlib": "python3-matplotlib"}
NO_ROSDEP_KEY = {"safetensors": "safetensors", "threadpoolctl": "threadpoolctl", "pyarrow": "pyarrow",
                 "onnx": "onnx", "onnxruntime": "onnxruntime",
                 "av": "av", "PIL": "Pillow", "rerun": "rerun", "rerun_cli": "rerun"}


@pytest.mark.parametrize("name", PYTHON_PACKAGES)
def test_third_party_imports_are_declared_for_rosdep(name):
    """`rosdep install --from-paths src` installs what it can resolve; the rest is named."""
    import sys
    manifest = (SRC / name / "package.xml").read_text()
    declared = {d.name for d in parse_package(SRC / name / "package.xml").exec_depends}
    imported = set()
    for path in (SRC / name / name).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
    third_party = {m for m in imported if m not in sys.stdlib_module_names and not m.startswith("dexpie")
                   and m not in ROS_MODULES | {"rosgraph_msgs", "launch", "launch_ros", "ament_index_python"}}
    unknown = third_party - ROSDEP_KEYS.keys() - NO_ROSDEP_KEY.keys()
    assert not unknown, f"add {sorted(unknown)} to ROSDEP_KEYS or NO_ROSDEP_KEY"
    missing = sorted(ROSDEP_KEYS[m] for m in third_party & ROSDEP_KEYS.keys() if ROSDEP_KEYS[m] not in declared)
    assert not missing, f"{name}/package.xml lacks <exec_depend> {missing}"
    unnamed = sorted(NO_ROSDEP_KEY[m] for m in third_party & NO_ROSDEP_KEY.keys()
                     if NO_ROSDEP_KEY[m] not in manifest)
    assert not unnamed, f"{name}/package.xml does not name the pip-only {unnamed}"
    if third_party & NO_ROSDEP_KEY.keys():
        assert "requirements/python.txt" in manifest
