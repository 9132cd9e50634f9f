// Out of memory ends gq-train and gq-eval within a moment with exit 4 and a message that says what
// the process was doing, how much it asked for, and how much it holds against its limit:
//  - a replacement operator new remembers the size of the request that failed (std::bad_alloc
//    carries none);
//  - the process leaves through _exit after flushing its output: the C library's exit handlers
//    would wait for library threads that are themselves failing to allocate (under `ulimit -v`
//    an OpenBLAS worker spins in its allocator and the process never ended);
//  - an allocation failure that escapes a thread (a worker's, a library's) ends the process the
//    same way instead of abort() (exit 134, "terminate called ...").
// Messages are formatted on the stack: the heap is what ran out.
#pragma once

#include <exception>

namespace gq::tools {

// What the process is doing, for the message ("loading the data and setting up the run");
// `doing` must outlive the process (a literal). Also installs the std::terminate handler.
void on_out_of_memory_say(const char* tool, const char* doing);

// When `e` is an allocation failure (std::bad_alloc, gq::OutOfMemory), prints the message and
// ends the process with exit 4; returns otherwise.
void exit_if_out_of_memory(const std::exception& e);

}  // namespace gq::tools
