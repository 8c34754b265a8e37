from glob import glob

from setuptools import find_packages, setup

package_name = "dexpie_bringup"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml")),
        ("share/" + package_name + "/rviz", glob("rviz/*.rviz")),
    ],
    install_requires=["setuptools"],
    tests_require=["pytest"],  # colcon test runs pytest (not unittest) on the test/ folder
    zip_safe=True,
    maintainer="DexPIE developers",
    maintainer_email="dev@dexpie.org",
    description="Launch files, parameter files, RViz configuration and the graph tools (dexpie-launch, dexpie-episodes) of DexPIE.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "dexpie-launch = dexpie_bringup.launcher:main",
            "dexpie-episodes = dexpie_bringup.episodes_cli:main",
            "node_container = dexpie_bringup.node_container:main",
        ],
    },
)
