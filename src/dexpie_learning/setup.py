from setuptools import find_packages, setup

package_name = "dexpie_learning"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="DexPIE developers",
    maintainer_email="dev@dexpie.org",
    description="Episode format (rosbag2/MCAP via rosbags), recorder node, critic, advantages, indicator and policy training.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "train = dexpie_learning.train.cli:main",
            "dexpie-train = dexpie_learning.train.cli:main",
            "dexpie-evaluate = dexpie_learning.evaluate_cli:main",
            "episode_recorder = dexpie_learning.episode_recorder_node:main",
        ],
    },
)
