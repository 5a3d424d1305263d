/*
 * game_host.c: a game server's main loop with the Allawee SDK inside it.
 *
 * It links liballawee.a statically, embeds Lua 5.4, registers allawee.core
 * without dlopen, and runs a 60 Hz frame loop. Each frame calls frame.lua's
 * tick(), which queues creates with create_async and drives them with
 * client:poll(0). The point it demonstrates: slow API answers never stall a
 * frame, because poll(0) only moves the bytes that are ready.
 *
 *   ALLAWEE_SECRET_KEY=sk.test.x game_host [BASE_URL [CREATES [PER_FRAME]]]
 *
 * BASE_URL defaults to $ALLAWEE_BASE_URL; CREATES to 20; PER_FRAME to 4.
 * It stops when every create is answered (or after GAME_HOST_MAX_SECONDS,
 * default 30) and prints one summary line:
 *
 *   frames=.. frames_waiting=.. creates_done=.. errors=.. worst_frame_ms=..
 *   avg_frame_ms=.. overruns=.. elapsed_ms=..
 *
 * worst_frame_ms is the longest time one frame's work took (Lua tick plus
 * SDK), not counting the sleep to the next frame; an overrun is a frame
 * whose work took longer than the 16.7 ms budget. Exit 0 when every create
 * succeeded.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <string.h>
#include <time.h>

#include "host_lua.h"

#define FRAME_NS 16666667L     /* 60 Hz */

typedef struct frame_stats {
    long frames;
    long frames_waiting;      /* frames that ran with creates in flight */
    long overruns;
    double worst_ms;
    double total_ms;
} frame_stats;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void add_ns(struct timespec *t, long ns)
{
    t->tv_nsec += ns;
    while (t->tv_nsec >= 1000000000L) {
        t->tv_nsec -= 1000000000L;
        t->tv_sec++;
    }
}

/* Sleeps until the next frame boundary. A frame that overran starts the
 * next one right away instead of trying to catch up with a burst. */
static void sleep_until_next_frame(struct timespec *next)
{
    struct timespec now;

    add_ns(next, FRAME_NS);
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec > next->tv_sec ||
        (now.tv_sec == next->tv_sec && now.tv_nsec >= next->tv_nsec)) {
        *next = now;
        return;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, next, NULL) == EINTR)
        ;
}

/* A number from the command line if given, else from the environment. */
static long setting(const char *arg, const char *env, long def)
{
    const char *s = arg != NULL ? arg : getenv(env);
    return s != NULL && *s != '\0' ? strtol(s, NULL, 10) : def;
}

/* frame.start{ base_url = ..., creates = n, per_frame = k } */
static int start_frames(lua_State *L, const char *base_url, long creates, long per_frame)
{
    lua_getglobal(L, "require");
    lua_pushliteral(L, "frame");
    if (!host_pcall(L, 1, 1, "require frame"))
        return 0;
    lua_getfield(L, -1, "start");
    lua_createtable(L, 0, 3);
    if (base_url != NULL) {
        lua_pushstring(L, base_url);
        lua_setfield(L, -2, "base_url");
    }
    lua_pushinteger(L, (lua_Integer)creates);
    lua_setfield(L, -2, "creates");
    lua_pushinteger(L, (lua_Integer)per_frame);
    lua_setfield(L, -2, "per_frame");
    return host_pcall(L, 1, 0, "frame.start");   /* leaves the module on top */
}

/* One frame: frame.tick() -> finished, in_flight. Returns -1 on a Lua
 * error, else 1 when every create is answered, 0 otherwise. */
static int run_frame(lua_State *L, int module, frame_stats *st)
{
    double t0 = now_ms(), took;
    int finished;

    lua_getfield(L, module, "tick");
    if (!host_pcall(L, 0, 2, "frame.tick"))
        return -1;
    took = now_ms() - t0;
    finished = lua_toboolean(L, -2);
    if (lua_tointeger(L, -1) > 0)
        st->frames_waiting++;
    lua_pop(L, 2);

    st->frames++;
    st->total_ms += took;
    if (took > st->worst_ms)
        st->worst_ms = took;
    if (took > FRAME_NS / 1e6)
        st->overruns++;
    return finished;
}

int main(int argc, char **argv)
{
    const char *base_url = argc > 1 ? argv[1] : getenv("ALLAWEE_BASE_URL");
    long creates = setting(argc > 2 ? argv[2] : NULL, "GAME_HOST_CREATES", 20);
    long per_frame = setting(argc > 3 ? argv[3] : NULL, "GAME_HOST_PER_FRAME", 4);
    double max_ms = 1000.0 * (double)setting(NULL, "GAME_HOST_MAX_SECONDS", 30);
    frame_stats st;
    struct timespec next;
    double started;
    long done, errors;
    int module, finished = 0;
    lua_State *L;

    if (getenv("ALLAWEE_SECRET_KEY") == NULL || creates < 1 || per_frame < 1) {
        fprintf(stderr, "usage: ALLAWEE_SECRET_KEY=sk.test.x %s [BASE_URL [CREATES "
                        "[PER_FRAME]]]\n", argv[0]);
        return 2;
    }
    L = host_new_state();
    if (L == NULL || !start_frames(L, base_url, creates, per_frame))
        return 2;
    module = lua_gettop(L);

    memset(&st, 0, sizeof st);
    started = now_ms();
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!finished && now_ms() - started < max_ms) {
        finished = run_frame(L, module, &st);
        if (finished < 0)
            return 2;
        sleep_until_next_frame(&next);
    }

    lua_getfield(L, module, "counts");
    if (!host_pcall(L, 0, 3, "frame.counts"))
        return 2;
    done = (long)lua_tointeger(L, -3);
    errors = (long)lua_tointeger(L, -2);
    if (lua_isstring(L, -1))
        fprintf(stderr, "first error: %s\n", lua_tostring(L, -1));
    lua_pop(L, 3);
    printf("frames=%ld frames_waiting=%ld creates_done=%ld errors=%ld "
           "worst_frame_ms=%.3f avg_frame_ms=%.3f overruns=%ld elapsed_ms=%.0f\n",
           st.frames, st.frames_waiting, done, errors, st.worst_ms,
           st.frames ? st.total_ms / (double)st.frames : 0.0, st.overruns,
           now_ms() - started);

    lua_getfield(L, module, "stop");
    host_pcall(L, 0, 0, "frame.stop");
    lua_close(L);
    return done == creates && errors == 0 ? 0 : 1;
}
