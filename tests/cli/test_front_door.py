"""How a command ends when Ctrl-C lands where Python cannot raise cleanly:
the one line of an interrupt (exit 130), never a bug report."""

import os
import signal

from rnnkit import front_door


def _interrupted_inside_a_c_call(args):
    """What CPython does when SIGINT's KeyboardInterrupt is raised inside a
    C function that did not expect an error (seen while TensorFlow traced a
    graph during `rnnkit export`): the error is replaced by a SystemError."""
    try:
        os.kill(os.getpid(), signal.SIGINT)  # Python raises as kill returns
    except KeyboardInterrupt:
        pass
    raise SystemError("Objects/listobject.c:338: bad argument to internal function")


def _fails_on_its_own(args):
    raise SystemError("Objects/listobject.c:338: bad argument to internal function")


def test_an_error_raised_after_ctrl_c_is_the_interrupt(capsys):
    status = front_door.run("export", _interrupted_inside_a_c_call, None)
    err = capsys.readouterr().err
    assert status == 130
    assert err == "rnnkit export: error: interrupted (Ctrl-C); nothing was changed\n"


def test_the_same_error_without_ctrl_c_is_a_bug(capsys):
    status = front_door.run("export", _fails_on_its_own, None)
    err = capsys.readouterr().err
    assert status == 1
    assert "Traceback" in err and "internal error: SystemError" in err


def test_python_s_own_ctrl_c_handler_is_back_afterwards():
    front_door.run("export", lambda args: 0, None)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
