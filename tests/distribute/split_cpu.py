"""Runs `rnnkit` with the CPU split into N logical devices, so that
`--strategy mirrored` has N replicas on a machine without a GPU.

    python split_cpu.py N [rnnkit arguments...]

TensorFlow fixes its devices when its runtime starts, so the split comes
first, before anything else of rnnkit's.
"""

import sys


def split_cpu(count):
    from rnnkit.templates import quiet_start

    quiet_start.load_tensorflow()
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    devices = [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
    tf.config.set_logical_device_configuration(cpu, devices)


if __name__ == "__main__":
    split_cpu(int(sys.argv[1]))
    from rnnkit.cli import main

    sys.exit(main(sys.argv[2:]))
