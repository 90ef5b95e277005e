use symnn::network;

network! {
    struct Net {
        input x[3];
        param b[2];
        output y = x + b;
        loss = sum(y);
    }
}

fn main() {}
