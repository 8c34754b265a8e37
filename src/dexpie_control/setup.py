from setuptools import find_packages, setup

package_name = "dexpie_control"

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
    description="Hand controller: joint and velocity limits, rate limits, NaN rejection, watchdog; node hand_controller.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "hand_controller = dexpie_control.hand_controller_node:main",
        ],
    },
)
