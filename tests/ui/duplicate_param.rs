use symnn::network;

network! {
    struct Net {
        input x;
        param w = 0.5, b;
        param w = 0.1;
        output y = w * x + b;
        loss = y * y;
    }
}

fn main() {}
