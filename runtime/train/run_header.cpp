#include "runtime/train/run_header.h"

#include <unistd.h>

#include "gq_build_info.h"  // generated: cmake/GqBuildInfo.cmake
#include "runtime/blas.h"
#include "runtime/device.h"
#include "runtime/dnn.h"
#include "runtime/train/settings.h"

namespace gq::train {

nlohmann::json run_header(const TrainConfig& c, long start_step, int ranks) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  nlohmann::json libraries{{"blas", blas::library_version()}, {"dnn", dnn::library_version()}};
  if (built_for_gpu()) {
    libraries["cuda_runtime"] = runtime_version();
    libraries["cuda_driver"] = driver_version();
  }
  nlohmann::json header{{"type", "run"},         {"step", start_step},
                        {"version", GQ_VERSION}, {"commit", GQ_GIT_COMMIT},
                        {"host", host},          {"device", device_info().name},
                        {"ranks", ranks},        {"libraries", std::move(libraries)},
                        {"settings", setting_values(c)}};
  if (!c.resume.empty()) header["resumed_from"] = c.resume.string();
  return header;
}

}  // namespace gq::train
