# In the shape of rknn_model_zoo's examples/*/python/convert.py (written for rknn.api):
# `python convert.py model.onnx platform [i8|u8|fp] [out.rknn]`, RKNPU1 shapes without the batch.
import sys

from rknn.api import RKNN

DATASET_PATH = './dataset.txt'
DEFAULT_RKNN_PATH = './model.rknn'
DEFAULT_QUANT = True
RKNPU1_TARGET = ['rk1808', 'rv1109', 'rv1126']


def parse_arg():
    if len(sys.argv) < 3:
        print("Usage: python3 {} onnx_model_path [platform] [dtype(optional)] "
              "[output_rknn_path(optional)]".format(sys.argv[0]))
        exit(1)
    model_path = sys.argv[1]
    platform = sys.argv[2]
    do_quant = DEFAULT_QUANT
    if len(sys.argv) > 3:
        model_type = sys.argv[3]
        if model_type not in ['i8', 'u8', 'fp']:
            print("ERROR: Invalid model type: {}".format(model_type))
            exit(1)
        do_quant = model_type in ['i8', 'u8']
    output_path = sys.argv[4] if len(sys.argv) > 4 else DEFAULT_RKNN_PATH
    return model_path, platform, do_quant, output_path


if __name__ == '__main__':
    model_path, platform, do_quant, output_path = parse_arg()

    rknn = RKNN(verbose=False)

    print('--> Config model')
    rknn.config(mean_values=[[255 * 0.485, 255 * 0.456, 255 * 0.406]],
                std_values=[[255 * 0.229, 255 * 0.224, 255 * 0.225]], target_platform=platform)
    print('done')

    print('--> Loading model')
    if platform.lower() in RKNPU1_TARGET:
        ret = rknn.load_onnx(model=model_path, inputs=['data'], input_size_list=[[3, 64, 64]])
    else:
        ret = rknn.load_onnx(model=model_path, inputs=['data'], input_size_list=[[1, 3, 64, 64]])
    if ret != 0:
        print('Load model failed!')
        exit(ret)
    print('done')

    print('--> Building model')
    ret = rknn.build(do_quantization=do_quant, dataset=DATASET_PATH)
    if ret != 0:
        print('Build model failed!')
        exit(ret)
    print('done')

    print('--> Export rknn model')
    ret = rknn.export_rknn(output_path)
    if ret != 0:
        print('Export rknn model failed!')
        exit(ret)
    print('done')

    rknn.release()
