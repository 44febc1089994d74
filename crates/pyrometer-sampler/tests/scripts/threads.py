"""Four threads in known places: a CPU-bound one, one sleeping inside a generator, one
waiting behind a call through C (map), and the main thread sleeping. Prints READY and a JSON
map role -> [ident, native_id] once they all run. Lines the tests check carry `# LINE:` tags."""
import json
import sys
import threading
import time

roles = {}


def register(role):
    roles[role] = [threading.get_ident(), threading.get_native_id()]


def busy():
    register("busy")
    x = 0
    while True:  # LINE:busy-while
        x += 1  # LINE:busy


def sleepy_gen():
    while True:
        time.sleep(0.05)  # LINE:gen
        yield 1


def consume():
    register("gen")
    for _ in sleepy_gen():  # LINE:consume
        pass


def wait_step(ev):
    register("waiter")
    ev.wait()  # LINE:wait


def waiter(ev):
    list(map(wait_step, [ev]))  # LINE:map


def idle_main():
    while len(roles) < 4:
        time.sleep(0.01)
    print("READY " + json.dumps(roles), flush=True)
    while True:
        time.sleep(0.1)  # LINE:main


if __name__ == "__main__":
    register("main")
    ev = threading.Event()
    for name, target, args in (
        ("busy-worker", busy, ()),
        ("gen-worker", consume, ()),
        ("waiter-worker", waiter, (ev,)),
    ):
        t = threading.Thread(name=name, target=target, args=args, daemon=True)
        t.start()
        if name == "gen-worker":
            # Materialize this instance's __dict__, so its name is read through a dict.
            t.__dict__["extra"] = 1
    idle_main()
