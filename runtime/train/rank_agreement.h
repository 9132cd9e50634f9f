// What the processes of a data-parallel job must share, checked before they train: one job trains
// one model, so every rank needs the same settings and the same data. A rank started with another
// flag would otherwise wait in a collective the others never call (an MPI error naming nothing),
// and a rank whose data folder holds other images would train another model and exit 0.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "runtime/comm.h"

namespace gq::train {

// Collective. Compares `facts` (a flat object, keys as shown to the user: "--lr", "train split")
// with rank 0's; when any rank differs, throws gq::Error on every rank: "the processes of this job
// {what}: rank(s) 2 differ from rank 0 (...); {remedy}", and on each differing rank the facts and
// both values ("\n  --lr: rank 0 0.05, rank 2 0.07").
void require_same_on_every_rank(Communicator& comm, const nlohmann::json& facts,
                                const std::string& what, const std::string& remedy);

}  // namespace gq::train
