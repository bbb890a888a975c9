// The header compiles as C++ (and twice, thanks to its include guard).
#include "peerwire.h"
#include "peerwire.h"

#include <cstdio>
#include <cstring>

int main() {
    peerwire_transport *t = nullptr;
    int32_t rc = peerwire_transport_new(nullptr, &t);
    if (rc != PEERWIRE_OK) return 1;
    peerwire_stats st;
    std::memset(&st, 0, sizeof st);
    st.size = sizeof st;
    if (peerwire_transport_stats(t, &st) != PEERWIRE_OK || st.peers != 0) return 1;
    peerwire_transport_free(t);
    std::printf("header_cpp: ok (%s)\n", peerwire_version());
    return 0;
}
