use symnn::network;

network! {
    struct Net {
        input x[4];
        output y = dense(dense(x, 8, tanh), 1, identity);
        loss = sum(y);
    }
}

fn main() {}
