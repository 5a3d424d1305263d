--[[
Test helper: runs a real nginx (Debian's, with lua-nginx-module) in the
foreground from a temporary prefix, with ONE worker, on 127.0.0.1.

    local N = require "support.nginx"
    N.available()                 --> true, or false, why
    local ngx_srv = N.start{
      http = "...",               -- directives for the http{} block
      server = "...",             -- directives for the server{} on srv.port
      main = "...",               -- directives for the main context (optional)
      files = { ["lua/app.lua"] = "...", ["certs/a.pem"] = "..." },  -- under the prefix
      port = 12345,               -- optional (default: a free one)
      env = { NAME = "value" },   -- optional: environment for nginx (`env NAME;` keeps it)
      conf = "...",               -- optional: a whole nginx.conf instead of the above
      nginx_prefix = "/dir",      -- optional: nginx's -p ($prefix); default: the temp prefix
      wrap = "unshare -m sh -c '...; exec \"$0\" \"$@\"'",  -- optional: runs nginx through this
                                  -- shell prefix (which must exec it: the pid stays nginx's)
    }
    ngx_srv.url, ngx_srv.port, ngx_srv.prefix, ngx_srv.pid
    ngx_srv:error_log()           --> the text of logs/error.log
    ngx_srv:stdout_log()          --> what nginx wrote on stdout/stderr
    ngx_srv:access_log()          --> the text of logs/access.log
    ngx_srv:stop()                -- SIGQUIT, wait, SIGKILL as a last resort; rm the prefix

In the text given, ${prefix} and ${repo} are replaced. The generated
nginx.conf loads the Debian modules (ndk, lua), points lua_package_path at
<repo>/lua, <repo>/spec and <prefix>/lua, and lua_package_cpath at the module
built for LuaJIT (build/luajit), ahead of the system paths.
]]

local net = require "support.net"

local N = {}

local MODULES = "/usr/lib/nginx/modules"
local NGINX = "/usr/sbin/nginx"

local Server = {}
Server.__index = Server

N.repo = net.repo_root()

local shell_quote = net.shell_quote

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function read_file(path)
  return net.read_file(path) or ""
end

local function write_file(path, text)
  local dir = path:match("^(.*)/[^/]*$")
  os.execute("mkdir -p " .. shell_quote(dir))
  net.write_file(path, text)
end

--- True when nginx, the lua module and the LuaJIT build are all there.
function N.available()
  if not exists(NGINX) then return false, NGINX .. " is missing (apt-get install nginx-light)" end
  if not exists(MODULES .. "/ngx_http_lua_module.so") then
    return false, "lua-nginx-module is missing (apt-get install libnginx-mod-http-lua)"
  end
  if not exists(N.repo .. "/build/luajit/allawee/core.so") then
    return false, "build/luajit/allawee/core.so is missing (make LUA=luajit)"
  end
  return true
end

local function conf_text(o, prefix, port)
  local lines = {
    "load_module " .. MODULES .. "/ndk_http_module.so;",
    "load_module " .. MODULES .. "/ngx_http_lua_module.so;",
    "daemon off;",
    "master_process on;",
    "worker_processes 1;",
    "error_log ${prefix}/logs/error.log info;",
    "pid ${prefix}/logs/nginx.pid;",
    o.main or "",
    "events { worker_connections 256; }",
    "http {",
    "  access_log ${prefix}/logs/access.log;",
    "  client_body_temp_path ${prefix}/tmp/body;",
    "  proxy_temp_path ${prefix}/tmp/proxy;",
    "  fastcgi_temp_path ${prefix}/tmp/fastcgi;",
    "  uwsgi_temp_path ${prefix}/tmp/uwsgi;",
    "  scgi_temp_path ${prefix}/tmp/scgi;",
    '  lua_package_path "${repo}/lua/?.lua;${repo}/spec/?.lua;${prefix}/lua/?.lua;;";',
    '  lua_package_cpath "${repo}/build/luajit/?.so;;";',
    o.http or "",
    "  server {",
    "    listen 127.0.0.1:" .. port .. ";",
    o.server or "",
    "  }",
    "}",
  }
  return N.expand(table.concat(lines, "\n"), prefix)
end

--- Replaces ${prefix} and ${repo} in text.
function N.expand(text, prefix)
  return (text:gsub("%${(%w+)}", { prefix = prefix, repo = N.repo }))
end

-- Under root, nginx runs its workers as nobody, who cannot read a checkout
-- in a private directory (`mktemp -d` makes it 0700): the lua files and the
-- module under ${repo} would be "not found". The test server's workers run
-- as the user running the tests instead.
local function as_root()
  local p = io.popen("id -u")
  local uid = p and p:read("*l")
  if p then p:close() end
  return uid == "0"
end

local function with_worker_user(text)
  if not as_root() or text:match("^%s*user%s") or text:match("\n%s*user%s") then return text end
  return "user root;\n" .. text
end

function N.start(o)
  o = o or {}
  local ok, why = N.available()
  if not ok then error("support.nginx: " .. why, 2) end
  local prefix = net.temp_dir("nginx")
  os.execute("mkdir -p " .. shell_quote(prefix .. "/logs") .. " " .. shell_quote(prefix .. "/tmp") ..
             " " .. shell_quote(prefix .. "/conf") .. " " .. shell_quote(prefix .. "/lua"))
  for name, text in pairs(o.files or {}) do
    write_file(prefix .. "/" .. name, N.expand(text, prefix))
  end
  local port = o.port or net.free_port()
  write_file(prefix .. "/conf/nginx.conf",
             with_worker_user(o.conf and N.expand(o.conf, prefix) or conf_text(o, prefix, port)))

  local env = {}
  for name, value in pairs(o.env or {}) do
    env[#env + 1] = name .. "=" .. shell_quote(value)
  end
  local cmd = ("%s%s%s -p %s -c %s >%s 2>&1 & echo $!"):format(
    #env > 0 and ("env " .. table.concat(env, " ") .. " ") or "", o.wrap and (o.wrap .. " ") or "", NGINX,
    shell_quote(o.nginx_prefix or prefix), shell_quote(prefix .. "/conf/nginx.conf"),
    shell_quote(prefix .. "/logs/stdout.log"))
  local p = io.popen(cmd)
  local pid = tonumber(p:read("*l"))
  p:close()
  local self = setmetatable({ prefix = prefix, port = port, pid = pid,
                              url = "http://127.0.0.1:" .. port }, Server)
  -- Ready when the port answers; a dead master means a bad config.
  local ready = false
  net.wait_until(function()
    ready = net.listening(port)
    return ready or net.process_gone(pid)
  end, 10)
  if not ready then
    local log = read_file(prefix .. "/logs/stdout.log") .. read_file(prefix .. "/logs/error.log")
    self:stop()
    error("support.nginx: nginx did not start:\n" .. log, 2)
  end
  return self
end

function Server:error_log() return read_file(self.prefix .. "/logs/error.log") end
function Server:stdout_log() return read_file(self.prefix .. "/logs/stdout.log") end
function Server:access_log() return read_file(self.prefix .. "/logs/access.log") end

-- The pids whose parent is `pid` (the workers of a master).
local function children(pid)
  local out = {}
  local p = io.popen("ls /proc")
  for name in p:lines() do
    if name:match("^%d+$") then
      local ppid = read_file("/proc/" .. name .. "/stat"):match("%) %a (%d+)")
      if tonumber(ppid) == pid then out[#out + 1] = tonumber(name) end
    end
  end
  p:close()
  return out
end

function Server:stop(keep_prefix)
  if self.stopped then return end
  self.stopped = true
  if self.pid and not net.process_gone(self.pid) then
    local workers = children(self.pid)
    os.execute("kill -QUIT " .. self.pid .. " 2>/dev/null")       -- graceful, by pid only
    if not net.wait_gone(self.pid, 5) then
      os.execute("kill -KILL " .. self.pid .. " 2>/dev/null")
      net.wait_gone(self.pid, 2)
    end
    for _, w in ipairs(workers) do                                  -- orphans, by pid
      if not net.wait_gone(w, 1) then os.execute("kill -KILL " .. w .. " 2>/dev/null") end
    end
  end
  if not keep_prefix and self.prefix:match("^/tmp/allawee%-nginx%.") then
    net.remove_temp_dir(self.prefix)
  end
end

return N
