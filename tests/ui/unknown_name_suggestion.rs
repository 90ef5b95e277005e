use symnn::network;

network! {
    struct Net {
        input x1, x2;
        target y;
        param w13 = 0.2, w23 = 0.6;
        output f = sigmoid(x1 * w31 + x2 * w23);
        loss = (f - y) * (f - y);
    }
}

fn main() {}
