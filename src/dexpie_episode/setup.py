from setuptools import find_packages, setup

package_name = "dexpie_episode"

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
    description="The episode format (rosbag2/MCAP via rosbags, the hand description in its metadata) and the episode_recorder node: the ground floor both the graph and learning stand on.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "episode_recorder = dexpie_episode.episode_recorder_node:main",
            "dexpie-bags = dexpie_episode.bags_cli:main",
        ],
    },
)
