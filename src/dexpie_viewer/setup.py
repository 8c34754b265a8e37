from setuptools import find_packages, setup

package_name = "dexpie_viewer"

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
    description="The live view in the browser (Rerun's web viewer, served locally): the viewer node for the running graph (viewer:=true) and dexpie-view for recorded episode bags.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "viewer = dexpie_viewer.viewer_node:main",
            "dexpie-view = dexpie_viewer.view_bags:main",
        ],
    },
)
