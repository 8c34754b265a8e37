from setuptools import find_packages, setup

package_name = "dexpie_sim"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
    ],
    install_requires=["setuptools"],
    tests_require=["pytest"],  # colcon test runs pytest (not unittest) on the test/ folder
    zip_safe=True,
    maintainer="DexPIE developers",
    maintainer_email="dev@dexpie.org",
    description="MuJoCo simulation twin: Adroit hand tasks, stage snapshots, success checks and the simulated operator; nodes sim_hand and sim_operator.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "sim_hand = dexpie_sim.sim_hand_node:main",
            "sim_operator = dexpie_sim.sim_operator_node:main",
        ],
    },
)
