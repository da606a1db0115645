/**
 * Preloaded (`node --import`) into every process start.mjs spawns: start.mjs holds the write end
 * of the child's stdin pipe, and the kernel closes it however start.mjs ends — SIGKILL included —
 * so end of input means the demo is gone, and the child stops itself as on SIGTERM.
 */
process.stdin.once('end', () => process.kill(process.pid, 'SIGTERM'));
process.stdin.resume();
// reading stdin must not keep a process alive that is shutting down for another reason
process.stdin.unref();
