#!/usr/bin/env python3
"""Sends one QMP command through a second monitor and prints only its reply's error, if any, so
a test can act without printing when the events come relative to the reply (that order differs
between daemons for some job verbs; the events reach the test's own client either way).
Usage: 188-send.py SOCKET COMMAND-JSON"""
import json
import socket
import sys

path, command = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
f = s.makefile("r")
f.readline()


def send(text):
    s.sendall(text.encode() + b"\n")
    while True:
        message = json.loads(f.readline())
        if "return" in message or "error" in message:
            return message


send('{"execute": "qmp_capabilities"}')
reply = send(command)
if "error" in reply:
    print(reply["error"]["desc"])
