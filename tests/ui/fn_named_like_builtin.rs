use symnn::network;

network! {
    struct Net {
        input x;
        fn relu(u) = max(u, 0.0);
        output y = relu(x);
        loss = y;
    }
}

fn main() {}
