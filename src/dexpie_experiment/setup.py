from setuptools import find_packages, setup

package_name = "dexpie_experiment"

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
    description="The twin experiment: DAgger rollouts with the simulated operator, evaluation, the comparison pipeline and suite, results and the main job (dexpie-experiment).",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "dexpie-experiment = dexpie_experiment.main_job:main",
            "dexpie-evaluate = dexpie_experiment.evaluate_cli:main",
        ],
    },
)
