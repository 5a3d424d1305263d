--[[
Test helper: a TLS front for the sandbox, built at test time.

    local T = require "support.tls"
    local pki = T.make_pki()              -- temp dir with a CA and a server cert
    -- pki.dir, pki.ca_file (PEM), pki.other_ca_file (a CA that signed nothing)
    local front = T.start_front(pki, sb.url)
    -- or T.start_front(pki, sb.url, { http2 = true })  (listen ... ssl http2)
    -- front.url        https://127.0.0.1:<port>   (the certificate's name)
    -- front.alt_url    https://127.0.0.2:<port>   (same server, a name not in the cert)
    -- front:log()      --> { { connection = N, requests = N, reused = "r"|".", status = N,
    --                          idempotency_key = "...", protocol = "HTTP/1.1"|"HTTP/2.0" }, ... }
    -- front:entries_for(keys) --> the entries of those idempotency keys (waits for them)
    -- front:connections() --> number of distinct TLS connections in the log
    -- front:stop()
    T.remove_pki(pki)

The certificates are made with the openssl CLI; the front is nginx (one
worker, everything under a temporary prefix) proxying to the sandbox over
HTTP/1.1 with upstream keepalive. nginx's access log records the
$connection serial number of every request, which is how a test counts the
TLS connections the client opened. Needs the Debian packages openssl and
nginx (nginx-light).
]]

local net = require "support.net"

local T = {}

local quote, run, read_file, write_file = net.shell_quote, net.run, net.read_file, net.write_file

-- A self-signed CA (key and certificate) named `name` in dir.
local function make_ca(dir, name)
  run(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes " ..
       "-keyout %s -out %s -days 2 -subj %s " ..
       "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign")
      :format(quote(dir .. "/" .. name .. ".key"), quote(dir .. "/" .. name .. ".crt"),
              quote("/CN=allawee test " .. name)))
end

--- Makes a temp dir with ca.crt, server.crt/.key (for 127.0.0.1 and
-- localhost, signed by ca) and other-ca.crt (an unrelated CA).
function T.make_pki()
  local dir = net.temp_dir("tls")
  make_ca(dir, "ca")
  make_ca(dir, "other-ca")
  write_file(dir .. "/server.ext", table.concat({
    "basicConstraints=CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=serverAuth",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
  }, "\n") .. "\n")
  run(("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes " ..
       "-keyout %s -out %s -subj /CN=localhost")
      :format(quote(dir .. "/server.key"), quote(dir .. "/server.csr")))
  run(("openssl x509 -req -in %s -CA %s -CAkey %s -CAcreateserial -out %s -days 2 -extfile %s")
      :format(quote(dir .. "/server.csr"), quote(dir .. "/ca.crt"), quote(dir .. "/ca.key"),
              quote(dir .. "/server.crt"), quote(dir .. "/server.ext")))
  return { dir = dir, ca_file = dir .. "/ca.crt", other_ca_file = dir .. "/other-ca.crt" }
end

function T.remove_pki(pki)
  if pki and pki.dir and pki.dir:match("^/tmp/allawee%-tls%.") then
    net.remove_temp_dir(pki.dir)
  end
end

local function nginx_conf(dir, port, upstream, http2)
  local listen_opts = http2 and "ssl http2" or "ssl" -- nginx 1.22: http2 is a listen parameter
  local d = function(name) return dir .. "/" .. name end
  return ([[
worker_processes 1;
daemon off;
pid %s;
error_log %s warn;
events { worker_connections 128; }
http {
  log_format front '$connection $connection_requests $ssl_session_reused $status $http_idempotency_key '
                   '$server_protocol';
  access_log %s front;
  client_body_temp_path %s;
  proxy_temp_path %s;
  fastcgi_temp_path %s;
  uwsgi_temp_path %s;
  scgi_temp_path %s;
  upstream sandbox {
    server %s;
    keepalive 1;
  }
  server {
    listen 127.0.0.1:%d %s;
    listen 127.0.0.2:%d %s;
    ssl_certificate %s;
    ssl_certificate_key %s;
    keepalive_requests 10000;
    keepalive_timeout 60s;
    location / {
      proxy_pass http://sandbox;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
]]):format(d("nginx.pid"), d("error.log"), d("access.log"), d("body"), d("proxy"),
           d("fastcgi"), d("uwsgi"), d("scgi"), upstream, port, listen_opts, port, listen_opts,
           d("server.crt"), d("server.key"))
end

local Front = {}
Front.__index = Front

--- Starts nginx terminating TLS on a free port of 127.0.0.1 (and
-- 127.0.0.2), proxying to the http:// URL `upstream_url`.
-- opts.http2: also offer HTTP/2 (ALPN h2) on both listeners.
function T.start_front(pki, upstream_url, opts)
  local upstream = assert(upstream_url:match("^http://([^/]+)"), "upstream must be http://host:port")
  local dir = pki.dir
  local last_problem
  for _ = 1, 5 do -- the free port may be taken between probe and bind: try again
    local port = net.free_port()
    for _, sub in ipairs({ "body", "proxy", "fastcgi", "uwsgi", "scgi" }) do
      run("mkdir -p " .. quote(dir .. "/" .. sub))
    end
    write_file(dir .. "/access.log", "")
    write_file(dir .. "/error.log", "")
    write_file(dir .. "/nginx.conf", nginx_conf(dir, port, upstream, opts and opts.http2))
    -- The spawned pid is nginx's master.
    local pid, proc = net.spawn(("nginx -e %s -p %s -c %s 2>&1"):format(
      quote(dir .. "/error.log"), quote(dir .. "/"), quote(dir .. "/nginx.conf")))
    net.wait_until(function() return net.process_gone(pid) or net.listening(port) end, 5)
    if not net.process_gone(pid) and net.listening(port) then
      return setmetatable({
        pid = pid, proc = proc, dir = dir, port = port,
        url = "https://127.0.0.1:" .. port,
        alt_url = "https://127.0.0.2:" .. port,
      }, Front)
    end
    os.execute("kill -9 " .. pid .. " 2>/dev/null")
    proc:close()
    last_problem = read_file(dir .. "/error.log") or ""
  end
  error("nginx did not start: " .. tostring(last_problem), 2)
end

--- The access log so far, one entry per request.
function Front:log()
  local entries = {}
  for line in (read_file(self.dir .. "/access.log") or ""):gmatch("[^\n]+") do
    local conn, n, reused, status, key, proto =
      line:match("^(%d+) (%d+) (%S+) (%d+) (%S+) ?(%S*)$")
    if conn then
      entries[#entries + 1] = { connection = tonumber(conn), requests = tonumber(n),
                                reused = reused, status = tonumber(status),
                                idempotency_key = key ~= "-" and key or nil,
                                protocol = proto ~= "" and proto or nil }
    end
  end
  return entries
end

--- The log entries of the requests with these idempotency keys, in log
-- order. nginx writes a line after it has sent the answer, so the client
-- may have its answer before the line exists: wait (up to `seconds`) for
-- all of them.
function Front:entries_for(keys, seconds)
  local wanted, n = {}, 0
  for _, k in ipairs(keys) do wanted[k] = true; n = n + 1 end
  local found
  net.wait_until(function()
    found = {}
    for _, e in ipairs(self:log()) do
      if e.idempotency_key and wanted[e.idempotency_key] then found[#found + 1] = e end
    end
    return #found >= n
  end, seconds or 3)
  return found
end

--- How many distinct client connections the logged requests came on.
function Front:connections()
  local seen, n = {}, 0
  for _, e in ipairs(self:log()) do
    if not seen[e.connection] then
      seen[e.connection] = true
      n = n + 1
    end
  end
  return n
end

function Front:stop()
  if self.stopped then return end
  self.stopped = true
  os.execute("kill -QUIT " .. self.pid .. " 2>/dev/null") -- graceful shutdown
  if not net.wait_gone(self.pid, 5) then
    -- last resort, by pid only: the master's workers, then the master
    os.execute(("pkill -9 -P %d 2>/dev/null; kill -9 %d 2>/dev/null"):format(self.pid, self.pid))
  end
  self.proc:close()
end

return T
