// Test fixture: every emulator test runs under each scheduling order and worker count, so a
// result that depends on thread order or on blocks sharing a worker fails somewhere.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "runtime/portable.cuh"

struct EmuSetting {
  cuemu::Order order;
  int workers;
};

class Emu : public ::testing::TestWithParam<EmuSetting> {
 protected:
  void SetUp() override {
    saved_order_ = cuemu::order();
    saved_workers_ = cuemu::worker_count();
    cuemu::set_order(GetParam().order);
    cuemu::set_workers(GetParam().workers);
    cuemu::reset_poison_read_count();
  }
  void TearDown() override {
    cuemu::set_order(saved_order_);
    cuemu::set_workers(saved_workers_);
    cuemu::set_lenient_exit(false);
    cuemu::set_strict_shuffle(true);
  }

 private:
  cuemu::Order saved_order_{};
  int saved_workers_ = 1;
};

inline std::string setting_name(const ::testing::TestParamInfo<EmuSetting>& info) {
  const char* o = info.param.order == cuemu::Order::forward   ? "forward"
                  : info.param.order == cuemu::Order::reverse ? "reverse"
                                                              : "shuffle";
  return std::string(o) + "_w" + std::to_string(info.param.workers);
}

#define EMU_INSTANTIATE(Suite)                                                         \
  INSTANTIATE_TEST_SUITE_P(                                                            \
      Orders, Suite,                                                                   \
      ::testing::Values(                                                               \
          EmuSetting{cuemu::Order::forward, 1}, EmuSetting{cuemu::Order::reverse, 1},  \
          EmuSetting{cuemu::Order::shuffle, 1}, EmuSetting{cuemu::Order::forward, 2},  \
          EmuSetting{cuemu::Order::reverse, 2}, EmuSetting{cuemu::Order::shuffle, 3}), \
      setting_name)

// Expects `stmt` to throw cuemu::error whose message contains every string in `parts`.
#define EXPECT_CUEMU_ERROR(stmt, ...)                                                 \
  do {                                                                                \
    try {                                                                             \
      stmt;                                                                           \
      ADD_FAILURE() << "expected cuemu::error from: " #stmt;                          \
    } catch (const cuemu::error& e) {                                                 \
      for (const std::string& part : std::initializer_list<std::string>{__VA_ARGS__}) \
        EXPECT_NE(std::string(e.what()).find(part), std::string::npos)                \
            << "message lacks \"" << part << "\": " << e.what();                      \
    }                                                                                 \
  } while (0)

inline std::string at_line(const char* file, int line) {
  std::string f(file);
  return f.substr(f.find_last_of('/') + 1) + ":" + std::to_string(line);
}
