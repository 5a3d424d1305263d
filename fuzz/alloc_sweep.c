/*
 * alloc_sweep.c: the failing-allocator sweep (make alloc-sweep).
 *
 * In the style of Lua's own ltests.c (debug_realloc with its count limit)
 * and testes/memerr.lua (testalloc: raise the limit one allocation at a time
 * until the task completes): every entry point of the SDK is run again and
 * again, each time with something going wrong at the next point, until it
 * runs to the end with nothing injected. Three ways to go wrong:
 *
 *   alloc  the Nth allocation fails (NULL for a growing request; frees and
 *          shrinks never fail, as in ltests.c). Domains: "lua" (the state's
 *          lua_Alloc: every Lua object, the module's userdata, error
 *          strings), "module" (the module's own malloc/realloc/calloc, via
 *          -Wl,--wrap), "curl" (libcurl's, via curl_global_init_mem).
 *          ALLOC_SWEEP_FAIL=once fails only the Nth (the memory comes back,
 *          as after a GC); =all fails the Nth and every one after it (a
 *          hard cap, ltests' alloccount).
 *   gc     a hostile finalizer runs at the Nth GC point (fuzz/alloc_sweep.lua
 *          explains how every allocation becomes one).
 *   hook   a hostile debug hook runs at the Nth function call.
 *
 * Each N runs in a child process (fork) with a fresh lua_State, so a crash,
 * a hang (alarm) or a leak (LeakSanitizer at the child's exit, after
 * lua_close) belongs to exactly one N and the sweep goes on. The parent is a
 * plain Lua state (standard allocator) running fuzz/alloc_sweep.lua's main:
 * it starts the sandbox, resets it before each child, and judges what the
 * child reports and how it ended.
 *
 * C primitives, table `sweep` in both states:
 *   sweep.run_child(config, logfile, timeout_s) -> pid, result, how, code   (parent)
 *   sweep.exe: this executable (the parent replays a failure in a new one)
 *   sweep.call_armed(mode, n, f, ...) -> status, counted, fired, f's results...   (child)
 *   sweep.fail_all, sweep.domains   (child, from the environment)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "../src/allawee.h"

#ifndef AX_SWEEP_ROOT
#error "AX_SWEEP_ROOT must name the repository root"
#endif
#ifndef AX_SWEEP_CMOD
#error "AX_SWEEP_CMOD must name the Lua 5.4 C module directory"
#endif

/* ------------------------------------------------------------ counting */

enum { D_LUA, D_MODULE, D_CURL, D_COUNT };
static const char *const domain_names[D_COUNT] = { "lua", "module", "curl" };

typedef struct sweep_ctl {
    int armed;               /* counting allocations */
    int inject;              /* alloc mode: fail the Nth */
    int fail_all;            /* ... and every one after it */
    unsigned domains;        /* bit per domain counted */
    unsigned long fail_at;   /* N */
    unsigned long counted;   /* allocations counted since armed */
    unsigned long per_domain[D_COUNT];
    unsigned long fired;     /* failures injected */
    int first_domain;        /* domain of the first failure injected */
} sweep_ctl;

static sweep_ctl ctl;

/* Called for every growing allocation: 1 to make it fail. */
static int should_fail(int domain)
{
    if (!ctl.armed || !(ctl.domains & (1u << domain)))
        return 0;
    ctl.counted++;
    ctl.per_domain[domain]++;
    if (!ctl.inject)
        return 0;
    if (ctl.counted == ctl.fail_at || (ctl.fail_all && ctl.counted > ctl.fail_at)) {
        if (ctl.fired++ == 0)
            ctl.first_domain = domain;
        return 1;
    }
    return 0;
}

/* The module's own allocations: its objects are linked with
 * -Wl,--wrap=malloc,--wrap=realloc,--wrap=calloc, so their calls land
 * here. This file's own calls do too, hence __real_* below. */
void *__real_malloc(size_t n);
void *__real_realloc(void *p, size_t n);
void *__real_calloc(size_t n, size_t size);
void *__wrap_malloc(size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_calloc(size_t n, size_t size);

void *__wrap_malloc(size_t n)
{
    return should_fail(D_MODULE) ? NULL : __real_malloc(n);
}

void *__wrap_realloc(void *p, size_t n)
{
    if (n != 0 && should_fail(D_MODULE))
        return NULL;
    return __real_realloc(p, n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return should_fail(D_MODULE) ? NULL : __real_calloc(n, size);
}

/* libcurl's allocations (curl_global_init_mem before the module's own
 * curl_global_init, which then only counts one more user). */
static void *curl_malloc_hook(size_t n)
{
    return should_fail(D_CURL) ? NULL : __real_malloc(n);
}

static void curl_free_hook(void *p)
{
    free(p);
}

static void *curl_realloc_hook(void *p, size_t n)
{
    return should_fail(D_CURL) ? NULL : __real_realloc(p, n);
}

static char *curl_strdup_hook(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = should_fail(D_CURL) ? NULL : __real_malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

static void *curl_calloc_hook(size_t n, size_t size)
{
    return should_fail(D_CURL) ? NULL : __real_calloc(n, size);
}

/* The child state's lua_Alloc (ltests.c's debug_realloc, reduced to what
 * the sweep needs: frees and shrinks never fail). */
static void *sweep_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    if ((ptr == NULL || nsize > osize) && should_fail(D_LUA))
        return NULL;
    return __real_realloc(ptr, nsize);
}

static unsigned parse_domains(const char *s)
{
    unsigned bits = 0;
    int d;

    if (s == NULL || *s == '\0')
        s = "lua,module";
    for (d = 0; d < D_COUNT; d++) {
        const char *p = strstr(s, domain_names[d]);
        if (p != NULL)
            bits |= 1u << d;
    }
    return bits;
}

/* ------------------------------------------------------ child primitives */

/* sweep.call_armed(mode, n, f, ...) -> status, counted, fired, results...
 * mode "alloc": fail the nth counted allocation; any other mode: count
 * only (the Lua side does its own hostile thing). status is "ok",
 * "memory" (LUA_ERRMEM) or "error", followed by the error value. */
static int l_call_armed(lua_State *L)
{
    const char *mode = luaL_checkstring(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    int nargs, status, base, nres;
    unsigned long counted, fired;

    luaL_checktype(L, 3, LUA_TFUNCTION);
    nargs = lua_gettop(L) - 3;
    base = 3;
    memset(ctl.per_domain, 0, sizeof ctl.per_domain);
    ctl.counted = 0;
    ctl.fired = 0;
    ctl.first_domain = -1;
    ctl.fail_at = n > 0 ? (unsigned long)n : 0;
    ctl.inject = strcmp(mode, "alloc") == 0 && n > 0;
    ctl.armed = 1;
    status = lua_pcall(L, nargs, LUA_MULTRET, 0);
    ctl.armed = 0;
    counted = ctl.counted;
    fired = ctl.fired;
    nres = lua_gettop(L) - (base - 1);
    luaL_checkstack(L, 4, "sweep");
    lua_pushstring(L, status == LUA_OK ? "ok" : status == LUA_ERRMEM ? "memory" : "error");
    lua_pushinteger(L, (lua_Integer)counted);
    lua_pushinteger(L, (lua_Integer)fired);
    lua_pushstring(L, ctl.first_domain >= 0 ? domain_names[ctl.first_domain] : "");
    lua_rotate(L, base, 4);
    return nres + 4;
}

static int result_fd = -1;   /* the child's pipe to the parent */

static void write_all(int fd, const char *s, size_t n);

/* sweep.emit(text): sends part of the result to the parent at once, so
 * that what happened before a crash is known. */
static int l_emit(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    if (result_fd >= 0)
        write_all(result_fd, s, len);
    return 0;
}

static void register_common(lua_State *L)
{
    const char *fail = getenv("ALLOC_SWEEP_FAIL");

    lua_newtable(L);
    lua_pushboolean(L, fail != NULL && strcmp(fail, "all") == 0);
    lua_setfield(L, -2, "fail_all");
    lua_pushstring(L, getenv("ALLOC_SWEEP_DOMAINS") ? getenv("ALLOC_SWEEP_DOMAINS")
                                                    : "lua,module");
    lua_setfield(L, -2, "domains");
    lua_pushliteral(L, AX_SWEEP_ROOT);
    lua_setfield(L, -2, "root");
}

/* The checkout's Lua files first, then Debian's (luasocket's socket.lua
 * and cjson, lua-socket's socket/core.so for the sandbox helpers). */
static void set_paths(lua_State *L)
{
    lua_getglobal(L, "package");
    lua_pushstring(L, AX_SWEEP_ROOT "/lua/?.lua;" AX_SWEEP_ROOT "/lua/?/init.lua;"
                      AX_SWEEP_ROOT "/fuzz/?.lua;" AX_SWEEP_ROOT "/spec/?.lua;");
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
    lua_pushstring(L, AX_SWEEP_CMOD "/?.so");
    lua_setfield(L, -2, "cpath");
    lua_pop(L, 1);
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    luaL_traceback(L, L, msg != NULL ? msg : "(error object is not a string)", 1);
    return 1;
}

/* Runs in the child's state: require the driver, run its child part with
 * the config string; returns its result string. */
static int child_body(lua_State *L)
{
    luaL_openlibs(L);
    set_paths(L);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_allawee_core);
    lua_setfield(L, -2, "allawee.core");
    lua_pop(L, 2);
    register_common(L);
    lua_pushcfunction(L, l_call_armed);
    lua_setfield(L, -2, "call_armed");
    lua_pushcfunction(L, l_emit);
    lua_setfield(L, -2, "emit");
    lua_setglobal(L, "sweep");
    lua_getglobal(L, "require");
    lua_pushliteral(L, "alloc_sweep");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "child");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    return 1;
}

static void write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void child_main(const char *config, int out, const char *logfile, int timeout)
{
    lua_State *L;
    int status, fd;
    const char *result;
    size_t len;

    fd = open(logfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    result_fd = out;
    alarm((unsigned)timeout);   /* default action: the child dies (a hang) */
    ctl.domains = parse_domains(getenv("ALLOC_SWEEP_DOMAINS"));
    ctl.fail_all = getenv("ALLOC_SWEEP_FAIL") && strcmp(getenv("ALLOC_SWEEP_FAIL"), "all") == 0;
    L = lua_newstate(sweep_lua_alloc, NULL);
    if (L == NULL)
        exit(4);
    lua_pushcfunction(L, traceback);
    lua_pushcfunction(L, child_body);
    lua_pushstring(L, config);
    status = lua_pcall(L, 1, 1, 1);
    ctl.armed = 0;
    result = lua_tolstring(L, -1, &len);
    if (status != LUA_OK)
        write_all(out, "harness_error=", 14);
    if (result != NULL)
        write_all(out, result, len);
    else
        write_all(out, "(no result)", 11);
    close(out);
    lua_close(L);
    fflush(NULL);
    exit(status == LUA_OK ? 0 : 3);   /* LeakSanitizer runs now */
}

/* ----------------------------------------------------- parent primitives */

/* sweep.run_child(config, logfile, timeout_s) -> pid, result, how, code
 * how: "exit" (code: the exit status) or "signal" (code: the signal). */
static int l_run_child(lua_State *L)
{
    const char *config = luaL_checkstring(L, 1);
    const char *logfile = luaL_checkstring(L, 2);
    int timeout = (int)luaL_checkinteger(L, 3);
    int fds[2], wstatus = 0;
    pid_t pid;
    luaL_Buffer b;
    char chunk[4096];

    if (pipe(fds) != 0)
        return luaL_error(L, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return luaL_error(L, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        child_main(config, fds[1], logfile, timeout);
    }
    close(fds[1]);
    luaL_buffinit(L, &b);
    for (;;) {
        ssize_t n = read(fds[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        luaL_addlstring(&b, chunk, (size_t)n);
    }
    close(fds[0]);
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    luaL_pushresult(&b);   /* the buffer is on top until here */
    lua_pushinteger(L, (lua_Integer)pid);
    lua_insert(L, -2);
    if (WIFSIGNALED(wstatus)) {
        lua_pushliteral(L, "signal");
        lua_pushinteger(L, WTERMSIG(wstatus));
    } else {
        lua_pushliteral(L, "exit");
        lua_pushinteger(L, WEXITSTATUS(wstatus));
    }
    return 4;
}

int main(int argc, char **argv)
{
    lua_State *L;
    int status, i;

    /* Before the module's own curl_global_init: libcurl's allocations go
     * through the hooks (counted only while a child is armed). */
    if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, curl_malloc_hook, curl_free_hook,
                             curl_realloc_hook, curl_strdup_hook,
                             curl_calloc_hook) != CURLE_OK) {
        fprintf(stderr, "alloc_sweep: curl_global_init_mem failed\n");
        return 2;
    }
    L = luaL_newstate();
    if (L == NULL)
        return 2;
    luaL_openlibs(L);
    set_paths(L);
    register_common(L);
    lua_pushcfunction(L, l_run_child);
    lua_setfield(L, -2, "run_child");
    lua_pushstring(L, argv[0]);
    lua_setfield(L, -2, "exe");
    lua_setglobal(L, "sweep");
    lua_pushcfunction(L, traceback);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "alloc_sweep");
    status = lua_pcall(L, 1, 1, 1);
    if (status == LUA_OK) {
        lua_getfield(L, -1, "main");
        lua_createtable(L, argc, 0);
        for (i = 1; i < argc; i++) {
            lua_pushstring(L, argv[i]);
            lua_rawseti(L, -2, i);
        }
        status = lua_pcall(L, 1, 1, 1);
    }
    if (status != LUA_OK) {
        fprintf(stderr, "alloc_sweep: %s\n", lua_tostring(L, -1));
        lua_close(L);
        curl_global_cleanup();
        return 2;
    }
    status = lua_toboolean(L, -1) ? 0 : 1;
    lua_close(L);
    curl_global_cleanup();
    return status;
}
