# Manual check of the write-stall timeout against a running `trove serve`:
#   python3 bench/serve/stall_check.py PORT /_download/PROJECT/VERSION/pdf/FILE.pdf SECONDS_NOT_READING
# With serve.idle_timeout shorter than SECONDS_NOT_READING, the server closes the connection early
# (prints EOF and fewer bytes than the response); without the WriteStallHandler it delivers everything.
import socket, time, sys
port = int(sys.argv[1]); path = sys.argv[2]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", port)); s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
time.sleep(float(sys.argv[3])); s.settimeout(10); t=time.time(); total = 0
try:
    while True:
        b = s.recv(65536)
        if not b: print("EOF"); break
        total += len(b)
except Exception as e: print("exc", e)
print(total, round(time.time()-t, 2))
