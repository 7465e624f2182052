#include "engine/cli/app.hpp"

int main(int argc, char** argv) {
    return taxdesk::engine::runMain(argc, argv);
}
