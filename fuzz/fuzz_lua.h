/*
 * fuzz_lua.h: what the libFuzzer targets share: one embedded Lua 5.4 state
 * with the real `require "allawee"` (lua/allawee.lua, the module's C code
 * linked in and preloaded, Debian's lua-cjson), the oracle (fuzz/oracle.lua)
 * and a reader that turns fuzz bytes into choices.
 *
 * The state lives for the whole run: building one per input would cost
 * more than the code under test. Each input leaves the stack as it found it.
 */
#ifndef ALLAWEE_FUZZ_LUA_H
#define ALLAWEE_FUZZ_LUA_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>
#include <lauxlib.h>

/* The state, built on first use; the oracle module is at registry
 * "allawee.fuzz.oracle" and also returned by fuzz_push_oracle. */
lua_State *fuzz_lua(void);

/* Pushes oracle[name] (a function). */
void fuzz_push_oracle_function(lua_State *L, const char *name);

/* Calls the function below its nargs arguments in protected mode; on an
 * error prints it and aborts, so libFuzzer records the input as a crash. */
void fuzz_call_or_die(lua_State *L, int nargs, int nresults, const char *what);

/* Ends one input: empties the stack and runs a full collection, so that an
 * input frees what it allocated. libFuzzer counts mallocs and frees per
 * input and runs a leak check on every input that allocated more than it
 * freed; without this, Lua's incremental collector would make nearly every
 * input look like a leak and the leak check would dominate the run. */
void fuzz_end_input(lua_State *L);

/* The fuzz input, consumed from the front. Past the end every read is 0. */
typedef struct fuzz_input {
    const uint8_t *p;
    size_t n;
} fuzz_input;

uint8_t fuzz_byte(fuzz_input *in);
uint64_t fuzz_u64(fuzz_input *in);
/* Up to `max` bytes (fewer if the input ends); returns how many. */
size_t fuzz_bytes(fuzz_input *in, const uint8_t **out, size_t max);

#endif
